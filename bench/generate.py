"""Bench data, generated inside PostgreSQL with generate_series (no ORM row by row).

Scale 1.0: 1,000,000 tasks in 200 workspaces (the first holds 200,000), groups of
10 tasks, one run per task that ran, 5,000,000 log lines, 2,000,000 chat messages
with artifacts, and their `new-message` events in the outbox, delivered. Ids are
md5-derived UUIDs so rows can reference each other by formula. Every count scales with
`scale` but the runs going on: 64, what the workers' slots allow (a task IN_PROGRESS
whose run ended waits for a reply). The queue's backlog, 5% of the tasks, is PENDING.
"""

import time
from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class Shape:
    tasks: int
    workspaces: int
    big_workspace_tasks: int
    logged_tasks: int
    lines_per_logged_task: int
    messages_per_task: int
    # The runs going on: what the workers' slots allow (16 workers of WORKER_CONCURRENCY
    # 4), whatever the size of the data; one per group at most, as the claim allows.
    live_runs: int

    @classmethod
    def at(cls, scale: float) -> "Shape":
        tasks = max(1000, int(1_000_000 * scale))
        return cls(
            tasks=tasks,
            workspaces=200 if scale >= 0.05 else 20,
            big_workspace_tasks=tasks // 5,
            logged_tasks=max(10, int(50_000 * scale)),
            lines_per_logged_task=100,
            messages_per_task=2,
            live_runs=64,
        )


BENCH_USER = "bench"

# Each statement is formatted with the Shape's fields (`{{`/`}}` are literal braces).
STATEMENTS = [
    (
        "users",
        """
        INSERT INTO accounts_user (id, password, is_superuser, username, first_name, last_name,
            email, is_staff, is_active, date_joined, name, image)
        SELECT md5('user' || w)::uuid, '!', false, 'owner' || w, '', '', 'owner' || w || '@x.test',
               false, true, now(), 'Owner ' || w, ''
        FROM generate_series(0, {workspaces} - 1) w
        UNION ALL
        SELECT md5('bench')::uuid, '!', false, 'bench', '', '', 'bench@x.test', false, true,
               now(), 'Bench', ''
        """,
    ),
    (
        "workspaces",
        """
        INSERT INTO accounts_workspace (id, slug, name, owner_id, features, created_at)
        SELECT md5('ws' || w)::uuid, 'ws' || w, 'Workspace ' || w, md5('user' || w)::uuid,
               '{{"taskLogsEnabled": true}}'::jsonb, now() - interval '400 days'
        FROM generate_series(0, {workspaces} - 1) w;
        INSERT INTO accounts_membership (workspace_id, user_id, role, created_at)
        SELECT md5('ws' || w)::uuid, md5('user' || w)::uuid, 'OWNER', now()
        FROM generate_series(0, {workspaces} - 1) w
        UNION ALL
        SELECT md5('ws' || w)::uuid, md5('bench')::uuid, 'DEVELOPER', now()
        FROM generate_series(0, {workspaces} - 1) w
        """,
    ),
    (
        "repositories and robots",
        """
        INSERT INTO tasks_repository (id, workspace_id, name, repository_url, default_branch,
            checkout_path, archived, created_at, webhook_secret)
        SELECT md5('repo' || w || '-' || k)::uuid, md5('ws' || w)::uuid, 'repo-' || k,
               'https://git.example/ws' || w || '/repo-' || k, 'main', '', false, now(),
               md5('secret' || w || '-' || k)
        FROM generate_series(0, {workspaces} - 1) w, generate_series(0, 4) k;
        INSERT INTO tasks_robot (id, workspace_id, repository_id, name, runner, config, enabled,
            created_at)
        SELECT md5('robot' || w || '-' || k)::uuid, md5('ws' || w)::uuid, NULL, 'robot-' || k,
               'scripted', '{{}}'::jsonb, true, now()
        FROM generate_series(0, {workspaces} - 1) w, generate_series(0, 2) k
        """,
    ),
    (
        "task placement",
        # Which workspace and local index each task has: the first workspace holds
        # big_workspace_tasks, the rest share the others in contiguous blocks.
        """
        CREATE UNLOGGED TABLE bench_task_place AS
        SELECT i,
               CASE WHEN i < {big_workspace_tasks} THEN 0
                    ELSE 1 + (i - {big_workspace_tasks}) / ceil(
                        ({tasks} - {big_workspace_tasks})::numeric / ({workspaces} - 1))::int
               END AS ws,
               hashint4(i)::bigint & 2147483647 AS h
        FROM generate_series(0, {tasks} - 1) i;
        ALTER TABLE bench_task_place ADD COLUMN local int;
        UPDATE bench_task_place p SET local = p.i - s.first
        FROM (SELECT ws, min(i) AS first FROM bench_task_place GROUP BY ws) s WHERE s.ws = p.ws;
        ANALYZE bench_task_place
        """,
    ),
    (
        "task groups",
        """
        INSERT INTO tasks_taskgroup (id, workspace_id, kind, binding_key, title, repository_id,
            robot_id, archived, created_at, updated_at)
        SELECT md5('grp' || ws || '-' || g)::uuid, md5('ws' || ws)::uuid,
               (ARRAY['issue','merge_request','commit','task','chat'])[1 + g % 5],
               'key-' || g, 'Group ' || g, md5('repo' || ws || '-' || (g % 5))::uuid,
               md5('robot' || ws || '-' || (g % 3))::uuid, false,
               now() - ((g % 365) || ' days')::interval,
               now() - ((g % 365) || ' days')::interval + interval '1 hour'
        FROM (SELECT DISTINCT ws, local / 10 AS g FROM bench_task_place) x
        """,
    ),
    (
        "tasks",
        """
        INSERT INTO tasks_task (id, workspace_id, title, description, status, priority,
            workflow_status, source_type, event_type, mode, pod_id, branch, prompt, output_text,
            error, retries, log_seq, message_count, awaiting_input, archived, archived_at,
            deleted, deleted_at, workflow_started_at, workflow_completed_at, assignee_id,
            created_by_id, feature_id, repository_id, robot_id, group_id, created_at, updated_at)
        SELECT md5('task' || i)::uuid, md5('ws' || ws)::uuid,
               'Task ' || i || ' fix ' || (ARRAY['login','cache','build','docs','api'])[1 + h % 5],
               'Description of task ' || i,
               CASE WHEN wf IS NULL THEN 'TODO' WHEN wf = 'COMPLETED' THEN 'DONE'
                    ELSE 'IN_PROGRESS' END,
               (ARRAY['LOW','MEDIUM','HIGH','CRITICAL'])[1 + (h >> 3) % 4],
               wf,
               (ARRAY['USER','JANITOR','TASK_COORDINATOR','SYSTEM','WEBHOOK'])[1 + (h >> 5) % 5],
               (ARRAY['issue','commit','merge_request','chat','manual'])[1 + (h >> 7) % 5],
               'agent', NULL, 'branch-' || (i % 1000), '', '', '', 0,
               CASE WHEN i < {logged_tasks} AND wf IS NOT NULL
                    THEN {lines_per_logged_task} ELSE 0 END,
               {messages_per_task},
               coalesce(wf IN ('PENDING', 'IN_PROGRESS'), false) AND (h >> 9) % 5 = 0,
               (h >> 11) % 10 = 0, NULL, (h >> 13) % 100 = 0, NULL,
               CASE WHEN wf IS NOT NULL THEN created END,
               CASE WHEN wf NOT IN ('PENDING', 'IN_PROGRESS') THEN created + interval '1 hour' END,
               NULL, md5('bench')::uuid, NULL, md5('repo' || ws || '-' || (local / 10 % 5))::uuid,
               md5('robot' || ws || '-' || (local / 10 % 3))::uuid,
               md5('grp' || ws || '-' || (local / 10))::uuid,
               created, created + ((h % 172800) || ' seconds')::interval
        FROM (
            SELECT p.*, now() - ((h % (365 * 86400)) || ' seconds')::interval AS created,
                   CASE WHEN h % 100 < 7 THEN NULL
                        WHEN h % 100 < 77 THEN 'COMPLETED'
                        WHEN h % 100 < 85 THEN 'FAILED'
                        WHEN h % 100 < 89 THEN 'ERROR'
                        WHEN h % 100 < 92 THEN 'HALTED'
                        WHEN h % 100 < 97 THEN 'PENDING'
                        ELSE 'IN_PROGRESS' END AS wf
            FROM bench_task_place p
        ) t
        """,
    ),
    (
        "runs",
        """
        INSERT INTO tasks_taskrun (id, task_id, number, status, worker_id, created_at, started_at,
            finished_at, heartbeat_at, exit_code, error, halt_requested, request_id, trigger)
        SELECT md5('run' || p.i)::uuid, t.id, 1,
               CASE WHEN t.workflow_status = 'IN_PROGRESS' THEN 'COMPLETED'
                    ELSE t.workflow_status END, '', t.created_at, t.workflow_started_at,
               CASE WHEN t.workflow_status = 'IN_PROGRESS'
                    THEN t.workflow_started_at + interval '1 minute'
                    ELSE t.workflow_completed_at END,
               t.workflow_started_at, NULL, '', false, '', 'create'
        FROM bench_task_place p JOIN tasks_task t ON t.id = md5('task' || p.i)::uuid
        WHERE t.workflow_status IS NOT NULL;
        UPDATE tasks_taskrun r SET status = 'IN_PROGRESS', finished_at = NULL
        FROM (
            SELECT id FROM (
                SELECT DISTINCT ON (t.group_id) r.id
                FROM tasks_taskrun r JOIN tasks_task t ON t.id = r.task_id
                WHERE t.workflow_status = 'IN_PROGRESS' AND NOT t.awaiting_input
                ORDER BY t.group_id, r.id
            ) first_of_group
            ORDER BY md5(id::text) LIMIT {live_runs}
        ) live
        WHERE r.id = live.id
        """,
    ),
    (
        "logs",
        """
        INSERT INTO tasks_tasklog (task_id, run_id, seq, stream, line, created_at)
        SELECT md5('task' || i)::uuid, md5('run' || i)::uuid, s,
               CASE WHEN s % 10 = 0 THEN 'stderr' ELSE 'stdout' END,
               'step ' || s || ': compiling module ' || (s * 7919 % 1000) || ' ok',
               now() - interval '1 day' + (s || ' seconds')::interval
        FROM generate_series(0, {logged_tasks} - 1) i
        JOIN tasks_task t ON t.id = md5('task' || i)::uuid AND t.log_seq > 0,
             generate_series(1, {lines_per_logged_task}) s
        """,
    ),
    (
        "chat messages and artifacts",
        """
        INSERT INTO chat_chatmessage (id, task_id, message, role, status, timestamp, reply_id,
            context_tags, source_websocket_id, client_message_id, created_by_id)
        SELECT md5('msg' || p.i || '-' || m)::uuid, md5('task' || p.i)::uuid,
               CASE WHEN m % 2 = 0 THEN 'Please look at task ' || p.i
                    ELSE 'Done: changed ' || (p.h % 50) || ' files' END,
               CASE WHEN m % 2 = 0 THEN 'USER' ELSE 'ASSISTANT' END, 'SENT',
               now() - interval '1 day' + (m || ' minutes')::interval, NULL, '[]'::jsonb, '',
               NULL, CASE WHEN m % 2 = 0 THEN md5('bench')::uuid END
        FROM bench_task_place p, generate_series(0, {messages_per_task} - 1) m;
        INSERT INTO chat_artifact (id, message_id, type, content, icon, answered_at, position)
        SELECT md5('art' || p.i)::uuid, md5('msg' || p.i || '-1')::uuid,
               CASE WHEN t.awaiting_input THEN 'FORM' ELSE 'CODE' END,
               jsonb_build_object('text', 'diff --git a/x b/x', 'language', 'diff'), NULL, NULL, 0
        FROM bench_task_place p JOIN tasks_task t ON t.id = md5('task' || p.i)::uuid
        WHERE t.awaiting_input OR p.h % 4 = 0
        """,
    ),
    (
        "outbox",
        # A week of delivered events (RETENTION_OUTBOX_DAYS) grows with the work: one
        # `new-message` per chat message, on its task's channel, sent.
        """
        INSERT INTO realtime_outboxevent (channel, event, data, seq, exclude_socket_id,
            created_at, sent_at, attempts, last_error, next_attempt_at)
        SELECT 'private-task-' || m.task_id, 'new-message',
               jsonb_build_object('id', m.id, 'taskId', m.task_id, 'role', m.role,
                                  'message', m.message, 'timestamp', m.timestamp),
               row_number() OVER (PARTITION BY m.task_id ORDER BY m.timestamp, m.id), NULL,
               m.timestamp, m.timestamp, 1, '', NULL
        FROM chat_chatmessage m
        WHERE NOT EXISTS (
            SELECT 1 FROM realtime_outboxchannel c WHERE c.name = 'private-task-' || m.task_id
        );
        INSERT INTO realtime_outboxchannel (name, last_seq, lease_owner, lease_until, sent_seq)
        SELECT channel, max(seq), '', NULL, max(seq) FROM realtime_outboxevent GROUP BY channel
        ON CONFLICT (name) DO NOTHING
        """,
    ),
    ("cleanup", "DROP TABLE bench_task_place;\nVACUUM ANALYZE"),
]


def generate(dsn: str, scale: float, log: "callable[[str], None]" = print) -> Shape:
    shape = Shape.at(scale)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name, sql in STATEMENTS:
            started = time.perf_counter()
            for statement in sql.format(**shape.__dict__).split(";\n"):
                if statement.strip():
                    conn.execute(statement)  # type: ignore[arg-type]
            log(f"  generated {name} in {time.perf_counter() - started:.1f} s")
    return shape

"""The chat part of the OpenAPI schema speaks the contract's spelling."""


def test_schema_documents_the_chat_endpoints_with_the_seeds_keys(client, db):
    schema = client.get("/api/schema?format=json").json()
    operations = {
        op["operationId"]: op for path in schema["paths"].values() for op in path.values()
    }
    assert {
        "chat_execute",
        "chat_message_create",
        "chat_message_get",
        "task_messages_list",
        "uploads_create",
        "chat_attachment_download",
    } <= set(operations)
    body = schema["components"]["schemas"]["PostMessageBodyRequest"]["properties"]
    assert "sourceWebsocketID" in body
    assert {"taskId", "message", "contextTags", "artifacts", "attachments"} <= set(body)
    assert {"replyId", "clientMessageId"} <= set(body)

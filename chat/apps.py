from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        from chat.serializers import LATEST_MESSAGE_SECTION
        from tasks import sections

        sections.add_row_section("latest_message", LATEST_MESSAGE_SECTION)

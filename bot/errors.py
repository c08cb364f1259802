"""A small error hierarchy. Adapters turn any BotError into `user_message` for the person asking."""


class BotError(Exception):
    user_message = "抱歉，系统暂时无法回答，请稍后再试。"


class ConfigError(BotError):
    pass


class KBError(BotError):
    """A document or the knowledge base cannot be read or changed."""
    user_message = "知识库暂时不可用，请稍后再试或联系管理员。"


class RuleError(BotError):
    """A rule table is invalid."""
    user_message = "奖励规则表有误，暂时无法计算金额，请联系管理员。"


class IndexError_(BotError):
    """The search index is missing, stale or was built by another model."""
    user_message = "检索索引暂时不可用，请稍后再试。"


class InputError(BotError):
    """The question itself cannot be answered as asked (empty, too long, no words)."""

    def __init__(self, user_message: str):
        super().__init__(user_message)
        self.user_message = user_message

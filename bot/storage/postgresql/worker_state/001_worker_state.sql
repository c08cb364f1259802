-- WeChat messages being answered or answered (MsgId dedupe across workers): a retry reaching any worker
-- gets the reply the first delivery got, and the message is answered once
CREATE TABLE wechat_messages (
    key text PRIMARY KEY,
    openid text,
    at double precision,
    state text,
    reply text
);
CREATE INDEX wechat_messages_at ON wechat_messages (at);

-- nonces of signed WeChat requests within the replay window, with a digest of the body they came with
CREATE TABLE wechat_nonces (
    nonce text PRIMARY KEY,
    digest text,
    at double precision
);
CREATE INDEX wechat_nonces_at ON wechat_nonces (at);

-- answers that took too long for the passive reply, waiting for the owner to send “结果”
CREATE TABLE wechat_pending (
    openid text PRIMARY KEY,
    answer text,
    at double precision
);

-- fixed-window message counters per sender (rate limits shared by the workers)
CREATE TABLE rate_limits (
    key text NOT NULL,
    period_start bigint NOT NULL,
    hits integer NOT NULL,
    warned integer NOT NULL DEFAULT 0,
    expires double precision,
    PRIMARY KEY (key, period_start)
);
CREATE INDEX rate_limits_expires ON rate_limits (expires);

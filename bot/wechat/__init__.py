"""The WeChat Official Account adapter: the /wechat webhook and the outbox senders (wechatpy 1.8.18)."""

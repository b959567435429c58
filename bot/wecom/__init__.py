"""The WeCom (企业微信) adapter: the /wecom callback and the application-message sender (wechatpy.enterprise)."""

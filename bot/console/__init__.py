"""The local simulator: a terminal chat (`gridbot chat`) and a web chat page (/simulator), channel "console"."""

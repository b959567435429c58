"""Channel-neutral dialogues: residents report and follow up, staff handle their tasks."""

"""Block Kit payloads, one module per surface (digest, App Home, modals, managers' summary);
structure here, words in `templates/slack/`."""

"""Admin tools: lists, explain, replay, retention, health and hot reload."""

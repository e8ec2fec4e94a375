"""Hostile input: any bytes a client sends get a correct answer or a clean 4xx, never a 5xx."""

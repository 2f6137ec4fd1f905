"""The identity designer: avatar, cover, nickname and bio for one person's wishes (docs/identity.md)."""

"""Business objects: the JSON API and the settings pages for custom fields and validators."""

"""Optional integrations with other frameworks, each a sub-app a shop installs only if it uses them."""

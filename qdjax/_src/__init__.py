"""Private helpers (typing aliases, testing utilities). Never imported by users."""

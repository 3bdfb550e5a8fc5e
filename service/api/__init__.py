"""HTTP routes: thin adapters from pydantic requests to domain calls."""

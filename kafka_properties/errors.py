class PropertiesError(ValueError):
    """A properties file, JAAS config or client setting that cannot be used as given."""

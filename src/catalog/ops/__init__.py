"""Operating the catalog: commands and reports that sit above the domains (`catalog db ...`,
the index advisor and the hot queries it replays). Nothing in the service imports this package;
the CLI does."""

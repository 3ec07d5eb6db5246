"""The analytics read side: the queries and pure reports behind `teppan costs|experiments|ml|report`."""

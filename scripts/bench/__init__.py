"""The benchmark harness: Hearth against peer servers, measured in the same run."""

"""What a run shows: the summary table, the HTML report, the dataset card, lineage."""

"""Reports: tables (and later figures and the HTML report)
made from results; never runs the model."""

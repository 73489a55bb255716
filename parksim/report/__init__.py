"""Reports: tables (later figures and the HTML report) from results; never runs the model."""

"""Teaching exercises: one SGD step by hand, and self-attention over SBERT token embeddings.

Library functions for callers such as a web app:

- `exercises.sgd_config.build_sgd_config`, `exercises.sgd.run_sgd`,
  `exercises.sgd_report.format_sgd_markdown`
- `exercises.encoder.load_model`, `exercises.attention.analyze_sentences`,
  `exercises.heatmap.plot_attention`, `exercises.heatmap.plot_head_attention`
"""

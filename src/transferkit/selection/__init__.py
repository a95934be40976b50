"""What and when to transfer: transferability scores (LogME, LEEP, NCE, H-score,
k-NN), the ranking of candidate backbones and their cut points before any training, and
`auto`'s documented rule that picks a backbone, a cut and a strategy."""

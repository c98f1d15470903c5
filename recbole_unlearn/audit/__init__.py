"""The audit: metrics on the retain and forget sides, membership inference, reports and plots."""

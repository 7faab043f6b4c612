"""Generative models: per-field corruption, denoisers, diffusion, flow matching, samplers."""

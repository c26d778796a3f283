"""The WARP engine: outline, evidence, actions, prompts, state machine. Never imports Qt."""

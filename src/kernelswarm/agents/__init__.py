"""Agents: anything that proposes candidates for a problem."""

from kernelswarm.agents.base import Agent, Context, Feedback

__all__ = ["Agent", "Context", "Feedback"]

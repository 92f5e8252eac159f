"""An agent per configured model: build the prompt, ask the model, read the reply.

Prompts are data (agents/prompts/*.md, one per kernel language plus the shared rules); this
module only fills them in with the problem, the device and the context arms it was shown.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from string import Template

from kernelswarm import redact
from kernelswarm.agents.base import Agent, Context, Feedback
from kernelswarm.config import ModelConfig, load_models
from kernelswarm.llm import LLMError, ModelClient, cost_usd, make_client
from kernelswarm.llm.limits import cut_note, text_limit
from kernelswarm.llm.reply import parse_reply
from kernelswarm.problems.load import Problem
from kernelswarm.records import Candidate, ModelCall

log = logging.getLogger("kernelswarm.agents.llm")

# Kernel languages per device, in the order rounds rotate through them.
LANGUAGES: dict[str, tuple[str, ...]] = {"cuda": ("triton", "cuda"), "cpu": ("cpp",), "mps": ("metal",)}
LANGUAGE_NAMES = {"triton": "Triton", "cuda": "CUDA C++", "cpp": "C++ (OpenMP/SIMD)", "metal": "Metal"}

PROMPT_OVERHEAD_TOKENS = 64  # role markers and the like that a server counts beyond the text
MAX_FEEDBACK = 4  # most recent attempts shown; older ones are summarised in one line
MAX_SOURCE_CHARS = 12_000  # an earlier or ported kernel longer than this is cut
ERROR_HEAD_LINES = 12  # lines that look like errors, kept from the start of a long log
ERROR_TAIL_LINES = 30  # and the end of the log, where the final error usually is
_ERROR_LINE = re.compile(r"error|exception|traceback|undefined|mismatch|expected", re.IGNORECASE)


@lru_cache(maxsize=None)
def prompt_file(name: str) -> str:
    return resources.files("kernelswarm.agents").joinpath("prompts").joinpath(name).read_text()


def trim_error(text: str, max_line: int = 400) -> str:
    """Keep what matters of a long error log: the first lines that name an error, and the tail."""
    lines = [ln if len(ln) <= max_line else ln[:max_line] + " ..." for ln in text.strip().splitlines()]
    if len(lines) <= ERROR_HEAD_LINES + ERROR_TAIL_LINES:
        return "\n".join(lines)
    body, tail = lines[:-ERROR_TAIL_LINES], lines[-ERROR_TAIL_LINES:]
    head = [ln for ln in body if _ERROR_LINE.search(ln)][:ERROR_HEAD_LINES]
    skipped = len(lines) - len(head) - len(tail)
    return "\n".join(head + [f"[... {skipped} lines omitted ...]"] + tail)


def language_of(source: str) -> str | None:
    """The kernel language an earlier candidate was written in, from what it imports and builds."""
    if re.search(r"^\s*(import|from)\s+triton\b", source, re.MULTILINE):
        return "triton"
    if "compile_shader" in source:
        return "metal"
    if "cuda_sources" in source:
        return "cuda"
    if "load_inline" in source or "cpp_extension" in source:
        return "cpp"
    return None


def _fence(source: str) -> str:
    if len(source) > MAX_SOURCE_CHARS:
        source = source[:MAX_SOURCE_CHARS] + "\n# [... cut ...]"
    return f"```python\n{source.rstrip()}\n```"


def _ms(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g} ms"


def render_feedback(feedback: list[Feedback]) -> str:
    """Context arm (a): what happened to the earlier attempts, and the source to revise."""
    shown = sorted(feedback, key=lambda f: f.round)[-MAX_FEEDBACK:]
    out = ["## Feedback on your earlier attempts", ""]
    if len(feedback) > len(shown):
        out += [f"({len(feedback) - len(shown)} older attempts not shown.)", ""]
    for f in shown:
        head = f"### Round {f.round + 1}: {f.verdict}"
        if f.verdict == "accepted" and f.candidate_ms is not None:
            head += f", {_ms(f.candidate_ms)}"
            if f.reference_ms:
                head += f" vs eager {_ms(f.reference_ms)} ({f.reference_ms / f.candidate_ms:.2f}x)"
            if f.compiled_ms:
                head += f", torch.compile {_ms(f.compiled_ms)} ({f.compiled_ms / f.candidate_ms:.2f}x)"
        out.append(head)
        if f.reason:
            out += ["```text", trim_error(f.reason), "```"]
        out.append("")
    base = _revision_base(feedback)
    if base is not None and base.source:
        what = "fastest correct" if base.verdict == "accepted" else "latest"
        out += [f"Your {what} attempt so far (round {base.round + 1}); fix or improve it:", "", _fence(base.source), ""]
    return "\n".join(out)


def _revision_base(feedback: list[Feedback]) -> Feedback | None:
    """The attempt to build on: the fastest accepted one, else the latest."""
    accepted = [f for f in feedback if f.verdict == "accepted" and f.candidate_ms is not None and f.source]
    if accepted:
        return min(accepted, key=lambda f: f.candidate_ms or 0.0)
    with_source = [f for f in feedback if f.source]
    return max(with_source, key=lambda f: f.round) if with_source else None


def render_device_facts(device: str, facts: dict[str, str]) -> str:
    if not facts:
        return f"- device: {device} (no further facts measured)"
    return "\n".join(f"- {k.replace('_', ' ')}: {v}" for k, v in facts.items())


def render_context(context: Context, language: str) -> str:
    """The optional sections: feedback, profile of the reference, a kernel from another backend."""
    parts: list[str] = []
    if context.feedback:
        parts.append(render_feedback(context.feedback))
    if context.profile is not None:
        parts += ["## Profile of the reference on this device", "", context.profile.strip(), ""]
    if context.other_backend_kernel is not None:
        other = context.other_backend or "another device"
        parts += [
            f"## An accepted kernel for this problem on {other}",
            "",
            f"It passed the evaluator on {other}. It will not run on {context.device} as is: port its",
            f"ideas (tiling, fusion, memory access) to {LANGUAGE_NAMES[language]}.",
            "",
            _fence(context.other_backend_kernel),
            "",
        ]
    return ("\n" + "\n".join(parts)) if parts else ""


def build_prompt(problem: Problem, context: Context, language: str) -> tuple[str, str]:
    """(system, user) for one request."""
    system = prompt_file("system.md").strip()
    guide = prompt_file(f"{language}.md").strip()
    if context.mode == "train":  # the gradient contract, and how this language meets it
        guide += "\n\n" + prompt_file("train.md").strip() + "\n\n" + prompt_file(f"train_{language}.md").strip()
    user = Template(prompt_file("user.md")).substitute(
        language_guide=guide,
        problem_name=problem.name,
        problem_source=problem.source.rstrip(),
        device=context.device,
        device_facts=render_device_facts(context.device, context.device_facts),
        context_sections=render_context(context, language),
        language_name=LANGUAGE_NAMES[language],
    )
    return system, user.strip() + "\n"


class LLMAgent:
    """Proposes one candidate per round from one configured model."""

    billable = True  # the supervisor stops asking billable agents once --budget is spent

    def __init__(self, config: ModelConfig, client: ModelClient) -> None:
        self.name = config.name
        self.config = config
        self.client = client

    def languages(self, device: str) -> tuple[str, ...]:
        allowed = LANGUAGES.get(device, ())
        if self.config.languages is not None:
            allowed = tuple(lang for lang in allowed if lang in self.config.languages)
        return allowed

    def choose_language(self, context: Context) -> str | None:
        """Keep the language of the fastest accepted attempt; otherwise rotate by round, so
        on cuda both Triton and CUDA C++ get tried."""
        langs = self.languages(context.device)
        if not langs:
            return None
        base = _revision_base(context.feedback)
        if base is not None and base.verdict == "accepted":
            lang = language_of(base.source)
            if lang in langs:
                return lang
        return langs[context.round % len(langs)]

    def worst_cost_usd(self, problem: Problem, context: Context) -> float:
        """The most one `propose` can cost: the prompt at the input price (a token is at least one
        byte of it, plus a few per message) and `max_tokens` at the output price. The supervisor
        reserves it against --budget before asking."""
        language = self.choose_language(context)
        if language is None:
            return 0.0
        system, user = build_prompt(problem, context, language)
        prompt_tokens = len(system.encode()) + len(user.encode()) + PROMPT_OVERHEAD_TOKENS
        return cost_usd(self.config, prompt_tokens, self.config.max_tokens)

    def propose(self, problem: Problem, context: Context) -> list[Candidate]:
        language = self.choose_language(context)
        if language is None:
            log.info("%s: no allowed kernel language for device %s; not proposing", self.name, context.device)
            return []
        system, user = build_prompt(problem, context, language)
        # Feedback and context carry what candidates printed and raised: no secret goes back out.
        system, user = redact.scrub(system), redact.scrub(user)
        base = _revision_base(context.feedback)
        candidate = Candidate(
            source="",
            agent=self.name,
            problem=problem.name,
            round=context.round,
            parent_id=base.candidate_id if base is not None else None,
            context={**context.arms(), "language": language, "model": self.config.model},
            language=language,
        )
        call = ModelCall(model=self.name, prompt=f"[system]\n{system}\n\n[user]\n{user}", reply="")
        candidate.calls.append(call)
        try:
            completion = self.client.complete(system, user)
        except LLMError as e:
            call.error = str(e)
            candidate.note = f"model request failed: {e}"
            return [candidate]
        except Exception as e:  # noqa: BLE001 - the Agent protocol: never raise for model failures
            call.error = f"{self.name}: {type(e).__name__}: {' '.join(str(e).split())[:300]}"
            candidate.note = f"model request failed: {call.error}"
            return [candidate]
        # Whatever the client read, no more than max_tokens allows is kept, and a cut says so.
        limit = text_limit(self.config.max_tokens)
        text, cut = completion.text[:limit], completion.cut or len(completion.text) > limit
        call.reply = text + ("\n" + cut_note(self.config.max_tokens) if cut else "")
        call.tokens_in, call.tokens_out = completion.tokens_in, completion.tokens_out
        call.latency_s = completion.latency_s
        call.cost_usd = cost_usd(self.config, completion.tokens_in, completion.tokens_out)
        parsed = parse_reply(text, truncated=completion.truncated or cut)
        if parsed.reason:
            candidate.note = parsed.reason + (f"; {cut_note(self.config.max_tokens)}" if cut else "")
            return [candidate]
        candidate.source = parsed.source
        candidate.note = " ".join(parsed.prose.split())[:200] + (f" {cut_note(self.config.max_tokens)}" if cut else "")
        return [candidate]


def load_llm_agents(models_path: Path, backoff_s: float = 1.0) -> list[Agent]:
    """One LLMAgent per model in the file. Models whose key variable is unset are left out with
    a warning (DESIGN.md: LLM agents run when a models file and keys exist). Raises ConfigError
    for an unusable file."""
    agents: list[Agent] = []
    for config in load_models(models_path):
        try:
            client = make_client(config, backoff_s=backoff_s)
        except LLMError as e:
            log.warning("skipping model %s: %s", config.name, e)
            continue
        agents.append(LLMAgent(config, client))
    return agents

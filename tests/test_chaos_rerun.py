"""The rerun line `posim chaos` prints runs the same campaign again: every flag that decides the plan or how
it runs is on it (taken from the parsed arguments), so a seed's campaign is reproduced step for step."""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys

from simulator.chaos import cli as chaos_cli
from simulator.chaos.plan import PlanSettings, make_plan
from simulator.chaos.report import settings_command, violation_report
from simulator.chaos.runner import RunResult, Tally
from simulator.cli import build_parser
from tests.agentproc import ROOT

#: a small campaign with every plan-deciding flag away from its default
FLAGS = ["--seed", "5", "--ops", "6", "--kills", "1", "--fault-rate", "0.5", "--wallet-share", "0.5",
         "--response-timeout", "0.6", "--checkpoint-every", "3", "--reversal-retries", "7"]


def chaos_parser():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, sub.choices["chaos"]


def posim_chaos(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "simulator.cli", "chaos", *args, "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def settings_of(args) -> PlanSettings:
    return PlanSettings(seed=args.seed, ops=args.ops, kills=args.kills, fault_rate=args.fault_rate,
                        response_timeout=args.response_timeout, power_cuts=args.power_cuts,
                        wallet_share=args.wallet_share)


def test_the_rerun_line_carries_every_flag_that_decides_the_campaign():
    parser, chaos = chaos_parser()
    args = parser.parse_args(["chaos", *FLAGS, "--tail-check-at-start", "--terminals", "2", "--keep", "/tmp/x y",
                              "--json", "--no-reduce"])
    rerun = chaos_cli.rerun_command(chaos, args, args.seed)
    words = shlex.split(rerun)
    assert words[:2] == ["posim", "chaos"]
    again = parser.parse_args(words[1:])
    for action in chaos._actions:
        if action.option_strings and action.dest not in chaos_cli.NOT_REPLAYED:
            assert getattr(again, action.dest) == getattr(args, action.dest), action.dest
    assert not {"--keep", "--json", "--no-reduce"} & set(words)
    assert make_plan(settings_of(again)) == make_plan(settings_of(args))
    # what the line used to carry (seed, operations, kills) makes another plan: most of its steps differ
    old = make_plan(PlanSettings(seed=args.seed, ops=args.ops, kills=args.kills))
    assert old != make_plan(settings_of(args))


def test_a_seed_drawn_at_random_is_the_one_on_the_rerun_line():
    parser, chaos = chaos_parser()
    args = parser.parse_args(["chaos", "--ops", "5", "--kills", "0"])
    assert args.seed is None
    assert shlex.split(chaos_cli.rerun_command(chaos, args, 1234))[2:4] == ["--seed", "1234"]


def test_a_violation_report_made_in_code_names_every_plan_setting():
    settings = PlanSettings(seed=9, ops=30, kills=2, fault_rate=0.3, response_timeout=0.7, power_cuts=1,
                            wallet_share=0.25)
    line = settings_command(settings, terminals=3)
    parser, _ = chaos_parser()
    again = parser.parse_args(shlex.split(line)[1:])
    assert settings_of(again) == settings and again.terminals == 3
    assert line in violation_report(settings, RunResult(0, Tally(), (), None), None, terminals=3)


def test_rerunning_the_printed_line_runs_the_identical_plan(tmp_path):
    first = posim_chaos(*FLAGS, "--keep", str(tmp_path / "first"))
    assert first["violations"] == []
    rerun = shlex.split(first["rerun"])
    for flag in ("--fault-rate", "--wallet-share", "--response-timeout", "--checkpoint-every", "--reversal-retries"):
        assert flag in rerun, (flag, first["rerun"])
    second = posim_chaos(*rerun[2:])
    assert second["rerun"] == first["rerun"]
    assert second["plan"] == first["plan"]
    assert second["operations"] == first["operations"] and second["faults_armed"] == first["faults_armed"]
    # the fingerprint sees a difference in any of those flags
    parser, _ = chaos_parser()
    args = parser.parse_args(["chaos", *FLAGS])
    options = dict(response_timeout=0.6, reversal_retries=7, checkpoint_every=3, tail_check_at_start=False)
    assert chaos_cli.plan_digest(make_plan(settings_of(args)), options, 1) == first["plan"]
    assert chaos_cli.plan_digest(make_plan(settings_of(args)), {**options, "checkpoint_every": 0}, 1) != first["plan"]

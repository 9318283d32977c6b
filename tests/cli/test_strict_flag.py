"""`run --strict`: a static Image Factory token that expires before the run's waits could end refuses the run."""

from __future__ import annotations

import json

from gitrollback.cli import EXIT_OK, EXIT_REFUSED, main
from gitrollback.testing.sandbox import SandboxWorld


def test_run_strict_refuses_a_token_about_to_expire(cap, world: SandboxWorld) -> None:
    """With 1 minute of token left and 2 minutes of waits configured, --strict exits 3 naming the token;
    without it the same run rolls back and only warns."""
    world.clock.advance(14 * 60)  # the sandbox token was issued at the start: 15 minutes of life
    argv = ["run", "--yes", "--json", "--config", str(world.config_path)]
    code = main([*argv, "--strict"], env=world.env, output=cap.output, clock=world.clock)
    report = json.loads(cap.out.getvalue())
    assert code == EXIT_REFUSED
    assert report["status"] == "refused" and "Image Factory token expires at 00:15:00Z" in report["error"]
    assert world.imagefactory.provider(world.provider_id)["status"] == "offline"  # nothing changed
    cap.out.seek(0)
    cap.out.truncate()
    assert main(argv, env=world.env, output=cap.output, clock=world.clock) == EXIT_OK
    assess = json.loads(cap.out.getvalue())["steps"][0]
    assert "warning: the Image Factory token expires at 00:15:00Z" in assess["detail"]

"""The direction protocols are enforced by a type checker, as Go's compiler does."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parent.parent


def check(tmp_path: Path, source: str) -> str:
    """Run ``mypy --strict`` on ``source``; return its report."""
    path = tmp_path / "snippet.py"
    path.write_text(textwrap.dedent(source))
    out, err, _ = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir=/dev/null", str(path)]
    )
    return f"{out}{err}"


def test_send_on_a_receive_only_channel_is_a_type_error(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        """
        from gochan import Chan, RecvChan

        def worker(jobs: RecvChan[int]) -> None:
            jobs.send(1)
            jobs.close()

        worker(Chan[int](1))
        """,
    )
    assert '"RecvChan[int]" has no attribute "send"' in report
    assert '"RecvChan[int]" has no attribute "close"' in report


def test_receive_from_a_send_only_channel_is_a_type_error(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        """
        from gochan import Chan, SendChan

        def producer(out: SendChan[int]) -> None:
            out.send(1)
            out.close()
            out.recv()

        producer(Chan[int](1))
        """,
    )
    assert '"SendChan[int]" has no attribute "recv"' in report
    assert report.count("error:") == 1


def test_chan_values_are_typed(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        """
        from gochan import Chan

        ch: Chan[int] = Chan(1)
        ch.send("not an int")
        """,
    )
    assert 'Argument 1 to "send" of "Chan" has incompatible type "str"' in report


def test_errgroup_go_checks_the_arguments_against_the_function(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        """
        from gochan import context, errgroup

        def worker(n: int) -> None:
            pass

        g, ctx = errgroup.with_context(context.background())
        g.go(worker, 1)
        g.go(worker, "x")
        g.try_go(worker, 2)
        g.try_go(worker)
        """,
    )
    assert report.count("error:") == 2, report
    assert 'Argument 2 to "go" of "Group" has incompatible type "str"' in report
    assert 'Missing positional argument "n" in call to "try_go" of "Group"' in report


def test_select_gives_each_case_its_own_result_type(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        """
        from gochan import Chan, default, select

        a: Chan[int] = Chan(1)
        b: Chan[str] = Chan(1)
        reveal_type(select(a.recv, b.recv_ok, (b.send, "x"), default, timeout=1))
        match select(a.recv, b.recv):
            case 0, v:
                reveal_type(v)
            case 1, w:
                s: str = w  # may be None: b may be closed
        match select(b.recv_ok):
            case 0, (x, True):
                reveal_type(x)
        eight = select(a.recv, a.recv, a.recv, a.recv, a.recv, a.recv, a.recv, a.recv)
        reveal_type(eight)
        """,
    )
    assert (
        'Revealed type is "tuple[Literal[0], int | None] | '
        "tuple[Literal[1], tuple[str, Literal[True]] | tuple[None, Literal[False]]] | "
        'tuple[Literal[2], None] | tuple[Literal[3], None]"'
    ) in report, report
    assert 'Revealed type is "int | None"' in report, report
    assert 'Revealed type is "str"' in report, report
    assert 'Revealed type is "tuple[int, Any]"' in report, report
    assert '(expression has type "str | None", variable has type "str")' in report, report
    assert report.count("error:") == 1, report


def test_select_rejects_a_send_case_of_the_wrong_type_and_a_called_case(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        """
        from gochan import Chan, select

        a: Chan[int] = Chan(1)
        b: Chan[str] = Chan(1)
        select(a.recv, (b.send, "fits"))
        select(a.recv, (b.send, 3))
        select(a.recv())
        """,
    )
    assert report.count("error:") == 2, report
    assert 'Cannot infer value of type parameter "_S1" of "select"' in report, report
    assert 'No overload variant of "select" matches argument type "int | None"' in report, report


def test_aselect_and_arecv_ok_are_typed_as_their_thread_twins(tmp_path: Path) -> None:
    report = check(
        tmp_path,
        """
        from gochan import Chan, aselect

        async def main(a: Chan[int], b: Chan[str]) -> None:
            reveal_type(await aselect(a.recv, (b.send, "x")))
            match await b.arecv_ok():
                case (name, True):
                    reveal_type(name)
            await aselect(a.recv, (b.send, 3))
        """,
    )
    assert 'Revealed type is "tuple[Literal[0], int | None] | tuple[Literal[1], None]"' in report
    assert 'Revealed type is "str"' in report, report
    assert 'Cannot infer value of type parameter "_S1" of "aselect"' in report, report
    assert report.count("error:") == 1, report

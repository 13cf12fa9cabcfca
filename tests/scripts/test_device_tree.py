"""scripts/device-tree.sh: the shipped model files leave what travels to the GPU machine for a
call, so the data and the wheels fit in its 64 MiB, and come back untouched after it."""

import subprocess

from tests.conftest import PROJECT_ROOT

SHIPPED = ["src/deepfer_kedro/default_model/deepfer_default.keras", "src/deepfer_kedro/default_model/fast/deepfer.onnx"]


def run(command, cwd):
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_hide_fits_the_call_under_64_mib_and_restore_leaves_the_checkout_as_it_was(tmp_path):
    clone = tmp_path / "clone"
    assert run(["git", "clone", "-q", str(PROJECT_ROOT), str(clone)], tmp_path).returncode == 0
    run(["cp", str(PROJECT_ROOT / "scripts" / "device-tree.sh"), "scripts/"], clone)  # this checkout's version
    before = run(["git", "status", "--porcelain"], clone).stdout
    sizes = {file: (clone / file).stat().st_size for file in SHIPPED}
    # what device-prep.sh makes: 42 MiB of data and about 3 MiB of wheels, both git-ignored
    for folder, name, size in ((".devdata", "fer2013.tar.xz", 42 * 2**20), (".whl", "keras.whl", 3 * 2**20)):
        (clone / folder).mkdir()
        (clone / folder / name).write_bytes(b"\0" * size)
        with (clone / ".git" / "info" / "exclude").open("a") as exclude:
            exclude.write(f"/{folder}/\n")

    over = run(["bash", "scripts/device-tree.sh", "size"], clone)
    assert over.returncode == 1 and "over the limit" in over.stderr, over.stdout + over.stderr

    hidden = run(["bash", "scripts/device-tree.sh", "hide"], clone)
    assert hidden.returncode == 0, hidden.stdout + hidden.stderr
    travels = float(hidden.stdout.split("travels: ")[1].split(" MiB")[0])
    assert 45 < travels < 64  # the carried folders counted too
    listed = run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], clone).stdout.split()
    assert not set(SHIPPED) & set(listed)  # neither tracked nor untracked-not-ignored
    assert all((clone / file).stat().st_size == size for file, size in sizes.items())  # still on disk

    restored = run(["bash", "scripts/device-tree.sh", "restore"], clone)
    assert restored.returncode == 0, restored.stderr
    assert run(["git", "status", "--porcelain"], clone).stdout == before
    assert set(SHIPPED) <= set(run(["git", "ls-files"], clone).stdout.split())

#!/usr/bin/env bash
# Grade the notebooks a pull request adds or changes under submissions/: the grading step of
# .github/workflows/grade-pr.yml, and runnable as is for a local rehearsal.
#
# Run it from the TRUSTED tooling (the pull request's base commit, or a pinned release), with
# the pull request's checkout as the working directory: that checkout is data only. Nothing in
# it is executed outside the grader's sandbox (not its copy of this script, not its grader/ or
# pyproject.toml), and only regular files inside submissions/ are graded: a symlink, a path
# through a symlink or a `..` component is skipped with a note, never followed.
#
# It holds no secret: the hidden solutions arrive as a folder fetched by an earlier step, and
# the seed as a file, handed to `grade` through the environment (never on a command line, which
# any process can read in /proc). Student code runs only inside the grader's sandbox, which also
# scrubs the environment.
#
# Environment:
#   GRADER_SOLUTIONS  the hidden solutions folder (required)
#   GRADER_SEED_FILE  a file holding the hidden cases' seed, used if it exists [default: the rubric's]
#   FAIL_UNDER        percent every graded notebook must reach, else exit 1 [default: 100]
#   PR_BASE           commit to diff HEAD against [default: HEAD^1, the base side of the merge
#                     commit that actions/checkout checks out for a pull_request]
#   CHANGED_FILES     a file listing the changed paths, one per line, used instead of git diff
#   SANDBOX_LAYERS    the sandbox layers grading requires, `grade --require-sandbox=LAYERS`
#                     [default: all, which holds when this runs as root; see docs/threat-model.md]
#   REPORTS_DIR       where the reports go [default: reports]
#   GRADE             the grade command, installed from trusted code [default: grade]
#   GRADER_JOBS       notebooks graded in parallel [default: the number of CPUs]
#
# Exit status: that of `grade` (0 graded, 1 a notebook below FAIL_UNDER, 2 configuration,
# 3 grader error); 0 when no notebook changed. Reports: REPORTS_DIR/{results.json, gradebook.csv,
# junit.xml, summary.md, annotations.txt}; summary.md is appended to $GITHUB_STEP_SUMMARY and
# annotations.txt printed after grading.
set -euo pipefail

read -r -a grade_command <<< "${GRADE:-grade}"
reports="${REPORTS_DIR:-reports}"
# The working directory is the pull request's tree: Python must never import from it (`python -m`
# would put it first on sys.path), nor take paths or start-up code from the environment.
export PYTHONSAFEPATH=1
unset PYTHONPATH PYTHONSTARTUP PYTHONUSERBASE
zero_width_space=$'\xe2\x80\x8b'

defused() {
    # Text for the log that no runner reads as a workflow command (`::`, `##[` broken).
    sed -u -e "s/::/:${zero_width_space}:/g" -e "s/##\[/#${zero_width_space}#[/g"
}

inside_submissions() {
    # A relative path below submissions/ whose every component is present, not `.` or `..`, and
    # not a symlink, ending in a regular file: nothing it names can lead outside the tree.
    local rest="$1" prefix="" part
    [[ "$rest" == submissions/* ]] || return 1
    while [[ -n "$rest" ]]; do
        if [[ "$rest" == */* ]]; then
            part="${rest%%/*}"
            rest="${rest#*/}"
        else
            part="$rest"
            rest=""
        fi
        [[ -n "$part" && "$part" != "." && "$part" != ".." ]] || return 1
        prefix="${prefix:+$prefix/}$part"
        [[ ! -L "$prefix" ]] || return 1
    done
    [[ -f "$prefix" && ! -L "$prefix" ]]
}

say() {
    # Our own messages, and the summary line when there is a job summary.
    echo "$1"
    if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
        echo "$1" >> "$GITHUB_STEP_SUMMARY"
    fi
}

if [[ -z "${GRADER_SOLUTIONS:-}" || ! -d "$GRADER_SOLUTIONS" ]]; then
    echo "::error title=Grading is not set up::no hidden solutions folder (GRADER_SOLUTIONS); see docs/ci-and-exports.md"
    exit 2
fi
if [[ -L "$reports" ]]; then
    echo "::error title=Grading is not set up::the reports folder ($reports) is a symlink; the grader writes only into a real folder"
    exit 2
fi
if [[ -n "${GRADER_SEED_FILE:-}" && -f "$GRADER_SEED_FILE" ]]; then
    GRADER_SEED="$(tr -d '[:space:]' < "$GRADER_SEED_FILE")"
    export GRADER_SEED
fi

changed=()
if [[ -n "${CHANGED_FILES:-}" ]]; then
    while IFS= read -r path || [[ -n "$path" ]]; do
        changed+=("$path")
    done < "$CHANGED_FILES"
else
    # NUL-separated, so any file name a student picks arrives intact; deleted files are left out.
    # safe.directory: under sudo, git would refuse a checkout owned by the runner's user.
    listing="$(mktemp)"
    git -c safe.directory="$PWD" diff --name-only -z --no-renames --diff-filter=d "${PR_BASE:-HEAD^1}" HEAD -- submissions \
        > "$listing"
    while IFS= read -r -d '' path; do
        changed+=("$path")
    done < "$listing"
    rm -f "$listing"
fi

notebooks=()
for path in "${changed[@]}"; do
    case "$path" in
        submissions/*.ipynb) ;;
        *) continue ;;
    esac
    case "/$path" in
        */.ipynb_checkpoints/*) continue ;;
    esac
    if inside_submissions "$path"; then
        notebooks+=("$path")
    elif [[ -e "$path" || -L "$path" ]]; then
        printf 'Skipped %q: not a regular file inside submissions/ (a symlink, a path through one, or `..`).\n' "$path" |
            defused
    fi
done
if (( ${#notebooks[@]} == 0 )); then
    say "No notebook under submissions/ was added or changed: nothing to grade."
    exit 0
fi

# The reports are published below, once every process the grading started is gone; GitHub mode
# is off because nothing of grade's own output is published as workflow commands.
arguments=(--no-github --jobs "${GRADER_JOBS:-$(nproc)}" --fail-under "${FAIL_UNDER:-100}" --out "$reports"
           --format json --format csv --format junit --format github-summary --format github-annotations)
arguments+=("--require-sandbox=${SANDBOX_LAYERS:-all}")

# Everything the grading writes to the log passes through this filter, which breaks every `::`
# and `##[` with a zero-width space: the grader already neutralises what it prints, and this also
# covers bytes that student code might push into the grader's own stdout or stderr (e.g. through
# /proc when the sandbox is not the full one). `--` ends the options, so a notebook named like an
# option stays a file name.
rm -f "$reports/annotations.txt" "$reports/summary.md"
status=0
"${grade_command[@]}" "${arguments[@]}" -- "${notebooks[@]}" 2>&1 | defused || status=$?

# Only now, with the grading over, the grader's own annotations (escaped) and the summary.
if [[ -f "$reports/annotations.txt" ]]; then
    cat "$reports/annotations.txt"
fi
if [[ -n "${GITHUB_STEP_SUMMARY:-}" && -f "$reports/summary.md" ]]; then
    cat "$reports/summary.md" >> "$GITHUB_STEP_SUMMARY"
fi
# Run with sudo (for every sandbox layer), hand the reports back to the user who called it.
if [[ -n "${SUDO_UID:-}" && -d "$reports" ]]; then
    chown -R "$SUDO_UID:$SUDO_GID" "$reports"
fi
exit "$status"

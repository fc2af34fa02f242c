#!/usr/bin/env bash
# The voxplan GitHub Action (action.yml): plan on pull requests, apply on pushes to the main branch, drift
# on a schedule, for every stack x environment. GitHub is spoken to with curl through its REST API
# ($GITHUB_API_URL) and nothing else; JSON is read and written by the runner's Python.
#
#   plan   voxplan plan --lock=false --out FILE --format markdown; ONE comment per stack and environment on
#          the pull request, found by its hidden marker and edited in place on every push. A failed plan
#          replaces the comment with the error, so an old plan never stands for a broken one. The saved
#          plan (it holds no secret) rides in the comment, gzipped, when it fits.
#   apply  the pull request merged into this commit is looked up; its saved plan is applied exactly, and
#          when it is stale (the stack, the state or a live object moved since review) main is re-planned
#          and applied instead of failing. The comment is updated in place with what was applied.
#   drift  voxplan drift (only changes made outside voxplan count); ONE open issue per stack and
#          environment, labelled voxplan-drift: opened, updated on the next drifted run, closed when clean.
set -uo pipefail

API=${GITHUB_API_URL:-https://api.github.com}
REPO=${GITHUB_REPOSITORY:?GITHUB_REPOSITORY is not set}
WORK=${RUNNER_TEMP:-/tmp}/voxplan-action
mkdir -p "$WORK"
read -r -a STACKS <<< "$(echo "${VOXPLAN_STACKS:-}" | tr '\n' ' ')"
read -r -a ENVS <<< "$(echo "${VOXPLAN_ENVIRONMENTS:-}" | tr '\n' ' ')"
[ ${#ENVS[@]} -eq 0 ] && ENVS=(default)
read -r -a ARGS <<< "${VOXPLAN_ARGS:-}"
MAIN=${VOXPLAN_MAIN_BRANCH:-main}
LOCK_TIMEOUT=${VOXPLAN_LOCK_TIMEOUT:-600}
COMMENT_LIMIT=65000  # GitHub refuses bodies over 65,536 characters
export NO_COLOR=1

if [ ${#STACKS[@]} -eq 0 ]; then
  echo "::error::voxplan action: the stacks input is empty" >&2
  exit 1
fi

py() { python3 -c "$@"; }

# api METHOD PATH [JSON_FILE]: the response body on stdout; an HTTP status of 300 or more is an error
api() {
  local method=$1 path=$2 body=${3:-} out="$WORK/response.json" code
  local data=()
  [ -n "$body" ] && data=(--data-binary "@$body" -H "Content-Type: application/json")
  code=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" "${data[@]}" \
    -H "Authorization: Bearer ${GITHUB_TOKEN:-}" -H "Accept: application/vnd.github+json" \
    -H "X-GitHub-Api-Version: 2022-11-28" "$API$path") || { echo "::error::GitHub API $method $path: unreachable" >&2; return 1; }
  if [ "$code" -ge 300 ]; then
    echo "::error::GitHub API $method $path: HTTP $code: $(head -c 300 "$out")" >&2
    return 1
  fi
  cat "$out"
}

# json FILE KEY=VALUE_FILE...: a JSON object of strings (values read from files), written to FILE
json() {
  local out=$1; shift
  py 'import json, sys
pairs = dict(a.split("=", 1) for a in sys.argv[2:])
data = {k: (json.loads(v[5:]) if v.startswith("json:") else open(v, encoding="utf-8").read()) for k, v in pairs.items()}
json.dump(data, open(sys.argv[1], "w", encoding="utf-8"))' "$out" "$@"
}

# find_marked LIST_PATH MARKER: the id (or number) of the first item of a paged list whose body has MARKER
find_marked() {
  local path=$1 marker=$2 page=1 found
  while :; do
    api GET "$path$([[ $path == *\?* ]] && echo '&' || echo '?')per_page=100&page=$page" > "$WORK/page.json" || return 1
    found=$(py 'import json, sys
items = json.load(open(sys.argv[1]))
hit = [i for i in items if sys.argv[2] in (i.get("body") or "") and "pull_request" not in i]
print(len(items), (hit[0].get("number") or hit[0]["id"]) if hit else "")' "$WORK/page.json" "$marker") || return 1
    if [ -n "${found#* }" ]; then echo "${found#* }"; return 0; fi
    [ "${found%% *}" -lt 100 ] && return 0
    page=$((page + 1))
  done
}

slug() { printf '%s-%s' "$1" "$2" | tr -c 'A-Za-z0-9._-' '_'; }
marker() { echo "<!-- voxplan $1: stack=$2 env=$3 -->"; }
header() { echo "**voxplan** · stack \`$1\` · environment \`$2\` · commit \`${3:0:12}\`"; }
env_args() { [ "$1" = default ] && return 0; echo "--env"; echo "$1"; }
event() { py 'import json, os, sys
data = json.load(open(os.environ["GITHUB_EVENT_PATH"])) if os.environ.get("GITHUB_EVENT_PATH") else {}
for part in sys.argv[1].split("."):
    data = data.get(part, {}) if isinstance(data, dict) else {}
print(data if data != {} else "")' "$1"; }
output() { echo "$1<<VOXPLAN_EOF" >> "${GITHUB_OUTPUT:-/dev/null}"; printf '%s\n' "$2" >> "${GITHUB_OUTPUT:-/dev/null}"; echo "VOXPLAN_EOF" >> "${GITHUB_OUTPUT:-/dev/null}"; }

# fenced FILE: a file's text in a ```text block (at most 20,000 characters, its end kept)
fenced() { echo '```text'; tail -c 20000 "$1"; echo; echo '```'; }

mode=${VOXPLAN_COMMAND:-auto}
if [ "$mode" = auto ]; then
  case "${GITHUB_EVENT_NAME:-}" in
    pull_request|pull_request_target) mode=plan ;;
    push) if [ "${GITHUB_REF:-}" = "refs/heads/$MAIN" ]; then mode=apply; else
            echo "voxplan: a push to ${GITHUB_REF:-?}, not to $MAIN: nothing to do"; exit 0; fi ;;
    schedule|workflow_dispatch) mode=drift ;;
    *) echo "::error::voxplan action: no command for event ${GITHUB_EVENT_NAME:-?} (set the command input)" >&2
       exit 1 ;;
  esac
fi
output mode "$mode"
failed=0
changed=()

plan_all() {
  local pr sha stack env s code mk
  pr=$(event pull_request.number)
  sha=$(event pull_request.head.sha); sha=${sha:-${GITHUB_SHA:-}}
  [ -n "$pr" ] || { echo "::error::voxplan plan: not a pull request event" >&2; return 1; }
  for stack in "${STACKS[@]}"; do for env in "${ENVS[@]}"; do
    s=$(slug "$stack" "$env"); code=0
    mk=$(marker plan "$stack" "$env")
    voxplan plan "$stack" $(env_args "$env") "${ARGS[@]}" --lock=false --out "$WORK/$s.plan" --format markdown \
      --detailed-exitcode > "$WORK/$s.md" 2> "$WORK/$s.err" || code=$?
    cat "$WORK/$s.err" >&2
    { echo "$mk"; header "$stack" "$env" "$sha"; echo
      if [ "$code" -eq 1 ]; then
        echo "### ❌ voxplan plan failed"; echo; fenced "$WORK/$s.err"
      else
        cat "$WORK/$s.md"
      fi; } > "$WORK/$s.body"
    if [ "$code" -eq 1 ]; then
      failed=1; echo "::error::voxplan plan $stack ($env) failed"
    else
      [ "$code" -eq 2 ] && changed+=("$stack $env")
      py 'import base64, gzip, sys
blob = base64.b64encode(gzip.compress(open(sys.argv[1], "rb").read())).decode()
body = open(sys.argv[2], encoding="utf-8").read()
if len(body) + len(blob) + 100 < int(sys.argv[3]):  # else the merge re-plans
    open(sys.argv[2], "a", encoding="utf-8").write(f"\n<!-- voxplan-saved-plan:{blob} -->\n")' \
        "$WORK/$s.plan" "$WORK/$s.body" "$COMMENT_LIMIT"
    fi
    upsert_comment "$pr" "$mk" "$WORK/$s.body" || failed=1
  done; done
}

upsert_comment() {
  local pr=$1 mk=$2 body=$3 id
  json "$WORK/request.json" "body=$body"
  id=$(find_marked "/repos/$REPO/issues/$pr/comments" "$mk") || return 1
  if [ -n "$id" ]; then
    api PATCH "/repos/$REPO/issues/comments/$id" "$WORK/request.json" > /dev/null
  else
    api POST "/repos/$REPO/issues/$pr/comments" "$WORK/request.json" > /dev/null
  fi
}

apply_all() {
  local sha=${GITHUB_SHA:?} pr stack env s code mk id note
  api GET "/repos/$REPO/commits/$sha/pulls" > "$WORK/pulls.json" || return 1
  pr=$(py 'import json, sys
print(next((str(p["number"]) for p in json.load(open(sys.argv[1])) if p.get("merged_at")), ""))' "$WORK/pulls.json")
  for stack in "${STACKS[@]}"; do for env in "${ENVS[@]}"; do
    s=$(slug "$stack" "$env"); code=0; note=""; id=""
    mk=$(marker plan "$stack" "$env")
    rm -f "$WORK/$s.plan"
    if [ -n "$pr" ]; then
      id=$(find_marked "/repos/$REPO/issues/$pr/comments" "$mk") || return 1
      if [ -n "$id" ]; then
        api GET "/repos/$REPO/issues/comments/$id" > "$WORK/comment.json" || return 1
        # Anyone who may edit comments could edit this one: only a plain plan of this stack and environment
        # is taken (no destroy, --target, --replace or --refresh-only, no other stack file). Such a plan
        # is applied only if it is exactly what a fresh plan of main would do; otherwise main is re-planned.
        py 'import base64, gzip, json, re, sys
found = re.search(r"<!-- voxplan-saved-plan:([A-Za-z0-9+/=]+) -->", json.load(open(sys.argv[1]))["body"])
try:
    data = json.loads(gzip.decompress(base64.b64decode(found.group(1)))) if found else None
except ValueError:
    data = None
plain = isinstance(data, dict) and data.get("kind") == "voxplan-saved-plan" and data.get("stack_file") == sys.argv[3] \
    and data.get("environment", "default") == sys.argv[4] and not data.get("sandbox") and not data.get("destroy") \
    and not data.get("refresh_only") and not data.get("targets") and not data.get("replace")
if plain:
    data.pop("stack_file_absolute", None)
    open(sys.argv[2], "w").write(json.dumps(data))
elif data is not None:
    print("::warning::the saved plan in the comment is not a plain plan of this stack; main is planned again")' \
          "$WORK/comment.json" "$WORK/$s.plan" "$stack" "$env"
      fi
    fi
    if [ -f "$WORK/$s.plan" ]; then
      voxplan apply "$WORK/$s.plan" --lock-timeout "$LOCK_TIMEOUT" > "$WORK/$s.out" 2> "$WORK/$s.err" || code=$?
      if [ "$code" -ne 0 ] && grep -q "saved plan is stale\|saved plan was made against" "$WORK/$s.err"; then
        note="The reviewed plan was stale at merge ($(grep -o 'saved plan [^;]*' "$WORK/$s.err" | head -1)); main was planned again and that plan applied."
        code=-1
      elif [ "$code" -ne 0 ]; then
        note="The reviewed plan could not be applied."
      else
        note="The reviewed plan was applied exactly."
      fi
    else
      code=-1
      note=$([ -n "$pr" ] && echo "No reviewed plan was kept for it; main was planned and applied." \
                          || echo "No pull request merged this commit; main was planned and applied.")
    fi
    if [ "$code" -eq -1 ]; then
      code=0
      voxplan apply "$stack" $(env_args "$env") "${ARGS[@]}" --auto-approve --lock-timeout "$LOCK_TIMEOUT" \
        > "$WORK/$s.out" 2> "$WORK/$s.err" || code=$?
    fi
    cat "$WORK/$s.out"; cat "$WORK/$s.err" >&2
    grep -q "^Apply complete!" "$WORK/$s.out" && changed+=("$stack $env")
    { echo "$mk"; header "$stack" "$env" "$sha"; echo
      if [ "$code" -eq 0 ]; then echo "### ✅ Applied on \`$MAIN\`"; else echo "### ❌ Apply on \`$MAIN\` failed"; fi
      echo; echo "$note"; echo
      summary=$(grep -E "^(Apply complete!|Apply failed|Error:)" "$WORK/$s.out" "$WORK/$s.err" -h | head -5)
      [ -n "$summary" ] && { echo "$summary" | sed 's/^/> /'; echo; }
      grep -q "^Apply complete!" "$WORK/$s.out" || [ "$code" -ne 0 ] || { echo "> No changes: the accounts already matched."; echo; }
      echo "<details><summary>Apply output</summary>"; echo; fenced "$WORK/$s.out"; fenced "$WORK/$s.err"; echo "</details>"
    } > "$WORK/$s.body"
    [ "$code" -eq 0 ] || { failed=1; echo "::error::voxplan apply $stack ($env) failed"; }
    if [ -n "$pr" ]; then upsert_comment "$pr" "$mk" "$WORK/$s.body" || failed=1; fi
  done; done
}

drift_all() {
  local sha=${GITHUB_SHA:-} stack env s code mk number title
  for stack in "${STACKS[@]}"; do for env in "${ENVS[@]}"; do
    s=$(slug "$stack" "$env"); code=0
    mk=$(marker drift "$stack" "$env")
    voxplan drift "$stack" $(env_args "$env") "${ARGS[@]}" --format markdown > "$WORK/$s.md" 2> "$WORK/$s.err" || code=$?
    cat "$WORK/$s.md"; cat "$WORK/$s.err" >&2
    if [ "$code" -eq 1 ]; then failed=1; echo "::error::voxplan drift $stack ($env) failed"; continue; fi
    number=$(find_marked "/repos/$REPO/issues?state=open&labels=voxplan-drift" "$mk") || { failed=1; continue; }
    { echo "$mk"; header "$stack" "$env" "$sha"; echo; cat "$WORK/$s.md"; } > "$WORK/$s.body"
    if [ "$code" -eq 2 ]; then
      changed+=("$stack $env")
      title="voxplan drift: $stack ($env)"
      printf '%s' "$title" > "$WORK/title.txt"
      json "$WORK/request.json" "body=$WORK/$s.body" "title=$WORK/title.txt" 'labels=json:["voxplan-drift"]'
      if [ -n "$number" ]; then
        api PATCH "/repos/$REPO/issues/$number" "$WORK/request.json" > /dev/null || failed=1
      else
        api POST "/repos/$REPO/issues" "$WORK/request.json" > /dev/null || failed=1
      fi
    elif [ -n "$number" ]; then  # clean again: say so and close it
      json "$WORK/request.json" "body=$WORK/$s.body"
      api POST "/repos/$REPO/issues/$number/comments" "$WORK/request.json" > /dev/null || failed=1
      json "$WORK/request.json" 'state=json:"closed"' 'state_reason=json:"completed"'
      api PATCH "/repos/$REPO/issues/$number" "$WORK/request.json" > /dev/null || failed=1
    fi
  done; done
  if [ ${#changed[@]} -gt 0 ] && [ "${VOXPLAN_FAIL_ON_DRIFT:-false}" = true ]; then failed=1; fi
}

case "$mode" in
  plan) plan_all || failed=1 ;;
  apply) apply_all || failed=1 ;;
  drift) drift_all || failed=1 ;;
  *) echo "::error::voxplan action: unknown command $mode (plan, apply, drift or auto)" >&2; exit 1 ;;
esac
output changes "$(printf '%s\n' "${changed[@]+"${changed[@]}"}")"
exit "$failed"

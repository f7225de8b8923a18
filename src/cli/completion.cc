// `ringflow completion bash`: the bash completion script. It completes the daemon's commands and
// the client's groups, commands and options; workflow names and run ids come from the daemon
// itself (`ringflow workflows list -o name`, `ringflow runs list -o name`, with the --server and
// --api-key already typed), bounded by a 2 s timeout so a missing daemon never hangs the shell.

#include <cstdio>

#include "cli/commands.h"

namespace rf::cli {

const char* BashCompletionScript() {
  return R"BASH(# bash completion for ringflow; load with: source <(ringflow completion bash)
_ringflow_remote() {
  # Ask the daemon for names (workflows) or ids (runs, dead-letter), with the connection options
  # already on the command line.
  local i conn=()
  for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
    case "${COMP_WORDS[i]}" in
      --server|--api-key) conn+=("${COMP_WORDS[i]}" "${COMP_WORDS[i+1]}") ;;
      --server=*|--api-key=*) conn+=("${COMP_WORDS[i]}") ;;
    esac
  done
  "${COMP_WORDS[0]}" "$@" --output name --timeout 2s "${conn[@]}" 2>/dev/null
}

_ringflow() {
  local cur prev group verb i w
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  local globals="--server --api-key --output --timeout --no-color --help"

  case "$prev" in
    --output|-o) COMPREPLY=($(compgen -W "table json name" -- "$cur")); return ;;
    --status) COMPREPLY=($(compgen -W "pending running waiting succeeded failed cancelled" -- "$cur")); return ;;
    --priority) COMPREPLY=($(compgen -W "critical default low" -- "$cur")); return ;;
    --workflow) COMPREPLY=($(compgen -W "$(_ringflow_remote workflows list)" -- "$cur")); return ;;
    --input|--payload)
      if [[ "$cur" == @* ]]; then
        COMPREPLY=($(compgen -f -- "${cur#@}" | sed 's/^/@/'))
      fi
      return ;;
    --server|--api-key|--timeout|--limit|--cursor|--idempotency-key|--version) return ;;
  esac

  # The words typed so far, without options and their values.
  local words=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${COMP_WORDS[i]}"
    case "$w" in
      --server|--api-key|--output|-o|--timeout|--input|--idempotency-key|--priority|--workflow|--status|--limit|--cursor|--payload|--version) ((i++)) ;;
      -*) ;;
      *) words+=("$w") ;;
    esac
  done
  group="${words[0]}"
  verb="${words[1]}"

  if [[ ${#words[@]} -eq 0 ]]; then
    COMPREPLY=($(compgen -W "workflows runs dead-letter completion serve version config doctor migrate archive help" -- "$cur"))
    return
  fi
  if [[ ${#words[@]} -eq 1 ]]; then
    case "$group" in
      workflows) COMPREPLY=($(compgen -W "apply list get" -- "$cur")) ;;
      runs) COMPREPLY=($(compgen -W "start get list watch cancel retry signal" -- "$cur")) ;;
      dead-letter) COMPREPLY=($(compgen -W "list retry" -- "$cur")) ;;
      completion) COMPREPLY=($(compgen -W "bash" -- "$cur")) ;;
      migrate) COMPREPLY=($(compgen -W "up status" -- "$cur")) ;;
      help) COMPREPLY=($(compgen -W "workflows runs dead-letter completion" -- "$cur")) ;;
    esac
    [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "$globals" -- "$cur"))
    return
  fi

  local opts=""
  case "$group $verb" in
    "workflows apply") opts="--yes --dry-run" ;;
    "workflows get") opts="--version" ;;
    "runs start") opts="--input --idempotency-key --priority --wait" ;;
    "runs list") opts="--workflow --status --limit --cursor" ;;
    "runs signal") opts="--payload" ;;
    "dead-letter list") opts="--workflow --limit --cursor" ;;
    "dead-letter retry") opts="--all --workflow" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$opts $globals" -- "$cur"))
    return
  fi
  local nargs=$((${#words[@]} - 2))
  case "$group $verb" in
    "workflows apply")
      COMPREPLY=($(compgen -f -- "$cur"))
      compopt -o filenames 2>/dev/null ;;
    "workflows get"|"runs start")
      [[ $nargs -eq 0 ]] && COMPREPLY=($(compgen -W "$(_ringflow_remote workflows list)" -- "$cur")) ;;
    "runs get"|"runs watch"|"runs cancel"|"runs retry"|"runs signal")
      [[ $nargs -eq 0 ]] && COMPREPLY=($(compgen -W "$(_ringflow_remote runs list --limit 100)" -- "$cur")) ;;
    "dead-letter retry")
      COMPREPLY=($(compgen -W "$(_ringflow_remote dead-letter list --limit 100)" -- "$cur")) ;;
  esac
}
complete -F _ringflow ringflow
)BASH";
}

int CompletionBash(Session&) {
  std::fputs(BashCompletionScript(), stdout);
  return kExitOk;
}

}  // namespace rf::cli

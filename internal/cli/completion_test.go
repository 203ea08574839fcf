//go:build !node && !scan

package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/internal/testutil"
)

// Each shell gets a script from cobra's completion command.
func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{
		"bash":       "__start_credence",
		"zsh":        "#compdef credence",
		"fish":       "complete -c credence",
		"powershell": "Register-ArgumentCompleter -CommandName 'credence'",
	} {
		out, errOut, code := run(t, "completion", shell)
		if code != ExitOK || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, stderr %q, no %q in %.200s", shell, code, errOut, want, out)
		}
	}
	if _, errOut, code := run(t, "completion", "tcsh"); code != ExitError || !strings.Contains(errOut, `unknown command "tcsh"`) {
		t.Errorf("completion tcsh: exit %d %q, want 2 and unknown command", code, errOut)
	}
}

// bash sources the script and completes command lines by calling credence
// (this test binary, on PATH as credence) as a user's shell would.
func TestCompletionBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		testutil.NeedComponent(t, "bash", "apt package bash")
	}
	// cobra's bash script uses the bash-completion package, as the shells
	// of users who have completion do.
	const bashCompletion = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(bashCompletion); err != nil {
		testutil.NeedComponent(t, "bash-completion", "run scripts/setup.d/00-apt.sh as root (apt package bash-completion)")
	}
	bin := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "credence")); err != nil {
		t.Fatal(err)
	}
	script := `set -e
source ` + bashCompletion + `
source <(credence completion bash)
complete -p credence
compopt() { :; } # only bash's own completion may call it; this script calls the function directly
comp() {
  COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
  read -r -a COMP_WORDS <<<"$COMP_LINE"
  [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
  COMPREPLY=()
  __start_credence credence "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
  echo "$1 => ${COMPREPLY[*]}"
}
comp "credence att"
comp "credence attest "
comp "credence attest verify --st"
comp "credence completion "
`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", script)
	cmd.Env = append(os.Environ(), asCredence+"=1", "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	for _, want := range []string{
		"complete -o default -F __start_credence credence",
		"credence att => attest",
		"credence attest verify --st => --state-dir",
		"credence completion  => bash fish powershell zsh",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if line := grepLine(string(out), "credence attest  => "); !strings.Contains(line, "challenge") || !strings.Contains(line, "verify") {
		t.Errorf("attest's subcommands: %q", line)
	}
}

func grepLine(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

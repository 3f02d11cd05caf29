package output

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/etcdgen/etcdgen/render"
)

// CheckSecretsIgnored refuses to write private keys (files with Secret())
// into a git work tree unless git ignores them: a key committed once is
// leaked for good. root is the output directory (it need not exist yet);
// display names it in messages. Without a work tree around root it allows
// everything; inside one, it asks `git check-ignore`, and refuses when git
// cannot answer (not installed, a broken repository).
func CheckSecretsIgnored(root, display string, files []render.File) error {
	var secrets []string
	for _, f := range files {
		if f.Secret() {
			secrets = append(secrets, f.Path)
		}
	}
	if len(secrets) == 0 {
		return nil
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	top := workTree(abs)
	if top == "" {
		return nil
	}
	hint := strings.TrimSuffix(filepath.ToSlash(display), "/") + "/"
	refuse := func(why string) error {
		return fmt.Errorf("refusing to write private keys into %s: it is inside the git work tree %s and %s; add %s to %s, or give --out a directory outside the repository", display, top, why, hint, filepath.Join(top, ".gitignore"))
	}
	git, err := exec.LookPath("git")
	if err != nil {
		return refuse("git is not installed to tell whether they are ignored")
	}
	// Paths relative to the work tree, as check-ignore wants them; symlinks
	// in root's ancestors (a /tmp that is a link) must not make them leave.
	base := abs
	if real, err := evalExisting(abs); err == nil {
		base = real
	}
	realTop := top
	if r, err := filepath.EvalSymlinks(top); err == nil {
		realTop = r
	}
	rel, err := filepath.Rel(realTop, base)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return refuse("its place in the work tree cannot be worked out")
	}
	hint = "/" + strings.TrimPrefix(filepath.ToSlash(rel)+"/", "./")
	var in bytes.Buffer
	for _, s := range secrets {
		in.WriteString(path.Join(filepath.ToSlash(rel), s))
		in.WriteByte(0)
	}
	cmd := exec.Command(git, "check-ignore", "--stdin", "-z")
	cmd.Dir = realTop
	cmd.Stdin = &in
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		// None is ignored.
	default:
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return refuse("git check-ignore failed (" + msg + ")")
	}
	ignored := map[string]bool{}
	for _, p := range strings.Split(out.String(), "\x00") {
		if p != "" {
			ignored[p] = true
		}
	}
	var not []string
	for _, s := range secrets {
		if !ignored[path.Join(filepath.ToSlash(rel), s)] {
			not = append(not, path.Join(filepath.ToSlash(display), s))
		}
	}
	if len(not) == 0 {
		return nil
	}
	what := not[0]
	if len(not) > 1 {
		what = fmt.Sprintf("%s and %d more keys", not[0], len(not)-1)
	}
	return refuse(what + " would not be git-ignored")
}

// workTree returns the top of the git work tree holding dir (a directory
// with a .git directory or file), or "".
func workTree(dir string) string {
	for d := dir; ; {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

// evalExisting resolves symlinks in the longest existing prefix of p and
// appends the rest.
func evalExisting(p string) (string, error) {
	var rest []string
	for cur := p; ; {
		real, err := filepath.EvalSymlinks(cur)
		if err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", err
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
		cur = parent
	}
}

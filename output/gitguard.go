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
// display names it in messages. The work tree is looked for from root's
// real path (a --out that is a symlink into a repository is inside it)
// and below it: a directory on a key's path holding .git is a work tree
// too, the nearest one wins. Without a work tree it allows everything;
// inside one, it asks `git check-ignore`, and refuses when git cannot
// answer (not installed, a broken repository).
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
	// Symlinks in root and its ancestors (a /tmp that is a link, a --out
	// that points into a repository) are resolved first.
	real := abs
	if r, err := evalExisting(abs); err == nil {
		real = r
	}
	above := workTree(real)
	byTop := map[string][]string{}
	var tops []string
	for _, s := range secrets {
		top := above
		dir := real
		if d := path.Dir(s); d != "." {
			for _, part := range strings.Split(d, "/") {
				dir = filepath.Join(dir, part)
				if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
					top = dir
				}
			}
		}
		if top == "" {
			continue
		}
		if _, ok := byTop[top]; !ok {
			tops = append(tops, top)
		}
		byTop[top] = append(byTop[top], s)
	}
	for _, top := range tops {
		if err := checkIgnored(top, real, display, byTop[top]); err != nil {
			return err
		}
	}
	return nil
}

// checkIgnored asks git whether the work tree at top ignores every key
// in secrets (paths below real, the resolved output directory).
func checkIgnored(top, real, display string, secrets []string) error {
	hint := strings.TrimSuffix(filepath.ToSlash(display), "/") + "/"
	where := "it is inside the git work tree " + top
	rel, err := filepath.Rel(top, real)
	below := err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator))
	if below {
		where = "it holds the git work tree " + top
		hint = "*.key"
	}
	refuse := func(why string) error {
		return fmt.Errorf("refusing to write private keys into %s: %s and %s; add %s to %s, or give --out a directory outside the repository", display, where, why, hint, filepath.Join(top, ".gitignore"))
	}
	git, err := exec.LookPath("git")
	if err != nil {
		return refuse("git is not installed to tell whether they are ignored")
	}
	if !below {
		hint = "/" + strings.TrimPrefix(filepath.ToSlash(rel)+"/", "./")
	}
	// Each key relative to the work tree, as check-ignore wants it.
	keyRel := map[string]string{}
	var in bytes.Buffer
	for _, s := range secrets {
		r, err := filepath.Rel(top, filepath.Join(real, filepath.FromSlash(s)))
		if err != nil {
			return refuse("its place in the work tree cannot be worked out")
		}
		keyRel[s] = filepath.ToSlash(r)
		in.WriteString(keyRel[s])
		in.WriteByte(0)
	}
	cmd := exec.Command(git, "check-ignore", "--stdin", "-z")
	cmd.Dir = top
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
		if !ignored[keyRel[s]] {
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

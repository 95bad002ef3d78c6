package agent

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/qunhq/qun/api"
)

// credential returns the credential a rank runs with: the assignment's
// RunAs (its queue's), else the agent's Config.RunAs; nil means the
// agent's own user. An agent that is not root can only run ranks as
// itself.
func (a *Agent) credential(asg api.Assignment) (*syscall.Credential, error) {
	ra := asg.RunAs
	if ra == nil {
		ra = a.cfg.RunAs
	}
	if ra == nil || ra.User == "" {
		return nil, nil
	}
	uid, gid, err := ResolveRunAs(*ra)
	if err != nil {
		return nil, err
	}
	if uint32(os.Geteuid()) == uid && uint32(os.Getegid()) == gid {
		return nil, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("cannot run the rank as user %s (uid %d): the agent runs as uid %d, not root", ra.User, uid, os.Geteuid())
	}
	// Groups empty: the rank keeps none of the agent's supplementary groups.
	return &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}, nil
}

// ResolveRunAs looks up a user (name or numeric ID) and group (name or
// ID; default the user's primary group).
func ResolveRunAs(ra api.RunAs) (uid, gid uint32, err error) {
	var u *user.User
	if _, nerr := strconv.ParseUint(ra.User, 10, 32); nerr == nil {
		u, err = user.LookupId(ra.User)
		if err != nil { // a bare ID need not be in /etc/passwd
			n, _ := strconv.ParseUint(ra.User, 10, 32)
			u = &user.User{Uid: ra.User, Gid: strconv.FormatUint(n, 10)}
			err = nil
		}
	} else if u, err = user.Lookup(ra.User); err != nil {
		return 0, 0, fmt.Errorf("run as user %q: %w", ra.User, err)
	}
	id, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("run as user %q: uid %q is not a number", ra.User, u.Uid)
	}
	gs := u.Gid
	if ra.Group != "" {
		if _, nerr := strconv.ParseUint(ra.Group, 10, 32); nerr == nil {
			gs = ra.Group
		} else {
			g, err := user.LookupGroup(ra.Group)
			if err != nil {
				return 0, 0, fmt.Errorf("run as group %q: %w", ra.Group, err)
			}
			gs = g.Gid
		}
	}
	g, err := strconv.ParseUint(gs, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("run as group %q: gid %q is not a number", ra.Group, gs)
	}
	return uint32(id), uint32(g), nil
}

// chownAll gives the rank's user its directories.
func chownAll(c *syscall.Credential, dirs ...string) error {
	for _, d := range dirs {
		if err := os.Chown(d, int(c.Uid), int(c.Gid)); err != nil {
			return fmt.Errorf("give %s to uid %d: %w", d, c.Uid, err)
		}
	}
	return nil
}

package app

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/svcnet/svcnet/internal/pki"
)

// TokenOptions are the flags of `svcnet token create node`.
type TokenOptions struct {
	DataDir string
	// Server is the API URL in the node's kubeconfig; "" takes the one in
	// the data dir's kubeconfig.
	Server string
	// IPs are the addresses the node's server certificate is valid for
	// (its --internal-ip).
	IPs []string
	// Out is the directory written; "" is <data-dir>/nodes/<name>.
	Out string
}

func tokenCommand(stdout io.Writer) *cobra.Command {
	token := &cobra.Command{Use: "token", Short: "Make credentials for the cluster's parts"}
	create := &cobra.Command{Use: "create", Short: "Create credentials"}
	o := TokenOptions{DataDir: "./svcnet-data", IPs: []string{"127.0.0.1"}}
	node := &cobra.Command{
		Use:   "node NAME",
		Short: "Credentials for one node's agent: a kubeconfig as system:node:NAME (what a kubelet may do, no more) and its server's certificate",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			path, err := CreateNodeCredentials(o, args[0], time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s\n", path)
			return nil
		},
	}
	f := node.Flags()
	f.StringVar(&o.DataDir, "data-dir", o.DataDir, "the server's data dir (its cluster CA signs the credentials)")
	f.StringVar(&o.Server, "server", o.Server, "API URL for the node's kubeconfig (default: the one in <data-dir>/kubeconfig)")
	f.StringSliceVar(&o.IPs, "ip", o.IPs, "addresses of the node (its --internal-ip) its server certificate is valid for")
	f.StringVar(&o.Out, "out", o.Out, "directory to write (default <data-dir>/nodes/NAME)")
	uo := TokenOptions{DataDir: "./svcnet-data"}
	var groups []string
	user := &cobra.Command{
		Use:   "user NAME",
		Short: "A kubeconfig for a person or program: a client certificate for NAME in --group groups, allowed what RBAC grants them (nothing else; system:masters is every right)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			path, err := CreateUserCredentials(uo, args[0], groups, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s\n", path)
			return nil
		},
	}
	uf := user.Flags()
	uf.StringVar(&uo.DataDir, "data-dir", uo.DataDir, "the server's data dir (its cluster CA signs the credentials)")
	uf.StringVar(&uo.Server, "server", uo.Server, "API URL for the kubeconfig (default: the one in <data-dir>/kubeconfig)")
	uf.StringSliceVar(&groups, "group", nil, "a group the user is in (repeatable)")
	uf.StringVar(&uo.Out, "out", uo.Out, "kubeconfig file to write (default <data-dir>/users/NAME/kubeconfig)")
	create.AddCommand(node, user)
	token.AddCommand(create)
	return token
}

// CreateUserCredentials writes a kubeconfig for user in groups and returns
// its path.
func CreateUserCredentials(o TokenOptions, user string, groups []string, now time.Time) (string, error) {
	if user == "" || strings.ContainsAny(user, "/\\") || user == "." || user == ".." {
		return "", fmt.Errorf("user name %q: must be non-empty and contain no slashes", user)
	}
	if slices.Contains(groups, "system:masters") {
		fmt.Fprintln(os.Stderr, "warning: system:masters may do anything, whatever RBAC says")
	}
	server, err := clusterServer(&o)
	if err != nil {
		return "", err
	}
	creds, err := pki.LoadOrCreate(o.DataDir, nil, now)
	if err != nil {
		return "", err
	}
	out := o.Out
	if out == "" {
		out = filepath.Join(o.DataDir, "users", user, "kubeconfig")
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		return "", err
	}
	return abs, creds.WriteUserKubeconfig(abs, user, groups, server, now)
}

// CreateNodeCredentials writes node's credentials (see
// pki.WriteNodeCredentials) and returns its kubeconfig's path.
func CreateNodeCredentials(o TokenOptions, node string, now time.Time) (string, error) {
	if errs := validation.IsDNS1123Subdomain(node); len(errs) > 0 {
		return "", fmt.Errorf("node name %q: %s", node, errs[0])
	}
	for _, ip := range o.IPs {
		if net.ParseIP(ip) == nil {
			return "", fmt.Errorf("--ip %q is not an address", ip)
		}
	}
	if _, err := clusterServer(&o); err != nil {
		return "", err
	}
	creds, err := pki.LoadOrCreate(o.DataDir, nil, now)
	if err != nil {
		return "", err
	}
	out := o.Out
	if out == "" {
		out = filepath.Join(o.DataDir, "nodes", node)
	}
	return creds.WriteNodeCredentials(out, node, o.Server, append([]string{node, "localhost"}, o.IPs...), now)
}

// clusterServer checks the data dir has a CA and fills o.Server from its
// kubeconfig when not given.
func clusterServer(o *TokenOptions) (string, error) {
	if _, err := os.Stat(filepath.Join(o.DataDir, "pki", "ca.key")); err != nil {
		return "", fmt.Errorf("no cluster CA in %s: run svcnet server with this --data-dir first", filepath.Join(o.DataDir, "pki"))
	}
	if o.Server == "" {
		cfg, err := clientcmd.LoadFromFile(filepath.Join(o.DataDir, "kubeconfig"))
		if err != nil {
			return "", fmt.Errorf("--server not given and no kubeconfig to take it from: %w", err)
		}
		for _, c := range cfg.Clusters {
			o.Server = c.Server
		}
		if o.Server == "" {
			return "", errors.New("--server not given and the kubeconfig names no server")
		}
	}
	return o.Server, nil
}

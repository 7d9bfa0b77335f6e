package measure

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EtcdCluster is an etcd cluster of member processes on loopback (plain
// HTTP), built from ./bench/etcd: the etcd svcnet embeds, as a cluster.
type EtcdCluster struct {
	procs   []*exec.Cmd
	clients []string
}

// StartEtcdCluster runs n members of bin (a build of ./bench/etcd) with
// their data under dir and returns once the cluster has a leader.
func StartEtcdCluster(bin, dir string, n int) (*EtcdCluster, error) {
	c := &EtcdCluster{}
	var peers, names []string
	for i := range n {
		c.clients = append(c.clients, "http://"+FreePort())
		peers = append(peers, "http://"+FreePort())
		names = append(names, fmt.Sprintf("m%d", i))
	}
	var initial []string
	for i := range n {
		initial = append(initial, names[i]+"="+peers[i])
	}
	for i := range n {
		cmd := exec.Command(bin, "--name", names[i], "--data-dir", filepath.Join(dir, names[i]),
			"--listen-client-urls", c.clients[i], "--advertise-client-urls", c.clients[i],
			"--listen-peer-urls", peers[i], "--initial-advertise-peer-urls", peers[i],
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "bench", "--log-level", "error", "--quota-backend-bytes", fmt.Sprint(8<<30))
		if err := cmd.Start(); err != nil {
			c.Stop()
			return nil, err
		}
		c.procs = append(c.procs, cmd)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.clients, DialTimeout: 5 * time.Second})
	if err != nil {
		c.Stop()
		return nil, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cli.Put(ctx, "/bench/ready", "1"); err != nil {
		c.Stop()
		return nil, fmt.Errorf("etcd cluster has no leader: %w", err)
	}
	return c, nil
}

// EtcdFlags are svcnet's flags for this cluster.
func (c *EtcdCluster) EtcdFlags() []string {
	return []string{"--etcd-servers", strings.Join(c.clients, ",")}
}

// Stop ends every member.
func (c *EtcdCluster) Stop() {
	for _, p := range c.procs {
		_ = p.Process.Signal(os.Interrupt)
		_ = p.Wait()
	}
}

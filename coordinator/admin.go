package coordinator

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOps are the authorized-operation bits DescribeGroups reports when
// asked (no authorizer: READ, DELETE and DESCRIBE).
const (
	groupOps = 1<<3 | 1<<6 | 1<<8
	noOps    = -2147483648
)

// DescribeGroups handles a DescribeGroups request.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	c.mu.Lock()
	top := c.checkLocked()
	groups := make(map[string]*group, len(req.Groups))
	for _, id := range req.Groups {
		if g := c.groups[id]; g != nil {
			groups[id] = g
		}
	}
	c.mu.Unlock()
	var known map[string]bool
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		dg.AuthorizedOperations = noOps
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupOps
		}
		if top != nil {
			dg.ErrorCode = top.Code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		if id == "" {
			dg.ErrorCode = kerr.InvalidGroupID.Code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		g := groups[id]
		if g != nil {
			g.mu.Lock()
			if g.state == Dead { // removed since: as if it were not there
				c.unlock(g)
				g = nil
			}
		}
		if g == nil {
			if known == nil {
				known = map[string]bool{}
				for _, gid := range c.store.GroupIDs() {
					known[gid] = true
				}
			}
			if known[id] {
				dg.State = Empty.String() // a group that only stores offsets
			} else {
				dg.State = Dead.String()
				if req.Version >= 6 {
					msg := "group " + id + " not found"
					dg.ErrorCode, dg.ErrorMessage = kerr.GroupIDNotFound.Code, &msg
				}
			}
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		dg.State = g.state.String()
		dg.ProtocolType = g.protocolType
		if g.state == Stable {
			dg.Protocol = g.protocol
		}
		for _, mid := range sortedKeys(g.members) {
			m := g.members[mid]
			dm := kmsg.NewDescribeGroupsResponseGroupMember()
			dm.MemberID, dm.ClientID, dm.ClientHost = m.id, m.clientID, m.clientHost
			if m.instanceID != "" {
				inst := m.instanceID
				dm.InstanceID = &inst
			}
			if g.state == Stable {
				dm.ProtocolMetadata = m.metadataFor(g.protocol)
				dm.MemberAssignment = m.assignment
			}
			dg.Members = append(dg.Members, dm)
		}
		c.unlock(g)
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// ListGroups handles a ListGroups request, with the state (v4+) and type
// (v5+) filters; every group here is a classic group.
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	c.mu.Lock()
	e := c.checkLocked()
	groups := make(map[string]*group, len(c.groups))
	for id, g := range c.groups {
		groups[id] = g
	}
	c.mu.Unlock()
	if e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	if len(req.TypesFilter) > 0 && !containsFold(req.TypesFilter, "classic") {
		return resp
	}
	add := func(id, protocolType string, st State) {
		if len(req.StatesFilter) > 0 && !containsFold(req.StatesFilter, st.String()) {
			return
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = id, protocolType, st.String(), "classic"
		resp.Groups = append(resp.Groups, lg)
	}
	for _, id := range sortedKeys(groups) {
		g := groups[id]
		g.mu.Lock()
		protocolType, st := g.protocolType, g.state
		c.unlock(g)
		if st != Dead {
			add(id, protocolType, st)
		}
	}
	for _, id := range c.store.GroupIDs() {
		if groups[id] == nil {
			add(id, "", Empty) // a group that only stores offsets
		}
	}
	return resp
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// DeleteGroups handles a DeleteGroups request: only groups with no members
// are deleted, with their committed offsets.
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		if e := c.deleteGroup(id); e != nil {
			dg.ErrorCode = e.Code
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// deleteGroup deletes one group. The check (no members) is made under the
// group's lock, the Raft write after it is released, and the group is
// removed under the lock again. Meanwhile the group is marked deleting:
// JoinGroup waits for the deletion (so no member joins a group whose
// offsets are being deleted), other requests see it Empty, as they would
// have just before.
func (c *Coordinator) deleteGroup(id string) *kerr.Error {
	if id == "" {
		return kerr.InvalidGroupID
	}
	wctx, cancel := c.storeCtx()
	g, e := c.lockGroup(wctx, id, false, true)
	cancel()
	if e != nil {
		return e
	}
	var err error
	if g == nil {
		ctx, cancel := c.storeCtx()
		err = c.store.DeleteGroup(ctx, id)
		cancel()
	} else {
		if len(g.members) > 0 || g.state != Empty {
			c.unlock(g)
			return kerr.NonEmptyGroup
		}
		// After the group's earlier writes, so that a record written
		// before (the group left Empty) does not outlive the deletion.
		w := c.queueWriteLocked(g, true)
		deleting := make(chan struct{})
		g.deleting = deleting
		c.unlock(g) // makes the write w
		err = w.err
		g.mu.Lock()
		// Nothing changed the group meanwhile but requests that leave an
		// Empty group Empty (JoinGroup waits), or the loss of
		// leadership, which made it Dead and answered its requests.
		if se := storeErr(err); se == nil || se == kerr.GroupIDNotFound {
			if g.state != Dead {
				c.removeLocked(g)
			}
		}
		g.deleting = nil
		close(deleting)
		c.unlock(g)
	}
	if se := storeErr(err); se != nil && !(se == kerr.GroupIDNotFound && g != nil) {
		// An in-memory group that never reached the store is deleted
		// all the same.
		return se
	}
	c.log.Info("consumer group deleted", "group", id)
	return nil
}

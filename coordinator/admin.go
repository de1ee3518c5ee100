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
	defer c.mu.Unlock()
	top := c.checkLocked()
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
		g := c.groups[id]
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
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// ListGroups handles a ListGroups request, with the state (v4+) and type
// (v5+) filters; every group here is a classic group.
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.checkLocked(); e != nil {
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
	for _, id := range sortedKeys(c.groups) {
		g := c.groups[id]
		if g.state != Dead {
			add(id, g.protocolType, g.state)
		}
	}
	for _, id := range c.store.GroupIDs() {
		if c.groups[id] == nil {
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
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		if e := c.deleteGroupLocked(id); e != nil {
			dg.ErrorCode = e.Code
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) deleteGroupLocked(id string) *kerr.Error {
	if id == "" {
		return kerr.InvalidGroupID
	}
	if e := c.checkLocked(); e != nil {
		return e
	}
	g := c.groups[id]
	if g != nil {
		switch {
		case g.state == Dead:
			return kerr.GroupIDNotFound
		case len(g.members) > 0 || g.state != Empty:
			return kerr.NonEmptyGroup
		}
	}
	ctx, cancel := c.storeCtx()
	err := c.store.DeleteGroup(ctx, id)
	cancel()
	if se := storeErr(err); se != nil && !(se == kerr.GroupIDNotFound && g != nil) {
		// An in-memory group that never reached the store is deleted
		// all the same.
		return se
	}
	if g != nil {
		g.stopTimers()
		g.state = Dead
		delete(c.groups, id)
	}
	c.log.Info("consumer group deleted", "group", id)
	return nil
}

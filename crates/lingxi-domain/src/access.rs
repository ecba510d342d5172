//! Roles and the permission matrix. The server asks `role.allows(permission)` on every
//! request; team visibility for agents is applied by the queries themselves.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Supervisor,
    Agent,
}

impl Role {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "admin" => Some(Self::Admin),
            "supervisor" => Some(Self::Supervisor),
            "agent" => Some(Self::Agent),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Supervisor => "supervisor",
            Self::Agent => "agent",
        }
    }

    /// The permission matrix: one row per role.
    pub fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Supervisor => !matches!(p, ManageUsers | ManageChannels | ManageTenant),
            Role::Agent => matches!(
                p,
                ReadConversations
                    | ReplyConversations
                    | ReadCustomers
                    | EditCustomers
                    | MergeCustomers
                    | ChangeConversationState
                    | ReadKnowledge
            ),
        }
    }

    /// Agents see only their teams' conversations; supervisors and admins see all of the tenant's.
    pub fn sees_all_teams(self) -> bool {
        !matches!(self, Role::Agent)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    ReadConversations,
    ReplyConversations,
    ChangeConversationState,
    ReadCustomers,
    EditCustomers,
    MergeCustomers,
    ReadAudit,
    /// See every team's queue and agents, transfer conversations between other people.
    SuperviseQueues,
    /// Create, change and delete the tenant's canned responses.
    ManageCannedResponses,
    ManageUsers,
    ManageChannels,
    ManageTenant,
    /// Read the knowledge base (entries, history, export, search).
    ReadKnowledge,
    /// Write the knowledge base: create, edit, review, publish, import, gaps.
    EditKnowledge,
}

impl Permission {
    pub const ALL: [Permission; 14] = [
        Permission::ReadConversations,
        Permission::ReplyConversations,
        Permission::ChangeConversationState,
        Permission::ReadCustomers,
        Permission::EditCustomers,
        Permission::MergeCustomers,
        Permission::ReadAudit,
        Permission::SuperviseQueues,
        Permission::ManageCannedResponses,
        Permission::ManageUsers,
        Permission::ManageChannels,
        Permission::ManageTenant,
        Permission::ReadKnowledge,
        Permission::EditKnowledge,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix() {
        assert!(Permission::ALL.iter().all(|p| Role::Admin.allows(*p)));
        assert!(!Role::Supervisor.allows(Permission::ManageUsers));
        assert!(Role::Supervisor.allows(Permission::ReadAudit));
        assert!(!Role::Agent.allows(Permission::ReadAudit));
        assert!(!Role::Agent.allows(Permission::ManageChannels));
        assert!(Role::Agent.allows(Permission::ReplyConversations));
        assert!(!Role::Agent.sees_all_teams());
        assert!(Role::Supervisor.allows(Permission::ManageCannedResponses));
        assert!(Role::Supervisor.allows(Permission::SuperviseQueues));
        assert!(!Role::Agent.allows(Permission::ManageCannedResponses));
        assert!(!Role::Agent.allows(Permission::SuperviseQueues));
        assert!(Role::Agent.allows(Permission::ReadKnowledge));
        assert!(!Role::Agent.allows(Permission::EditKnowledge));
        assert!(Role::Supervisor.allows(Permission::EditKnowledge));
    }
}

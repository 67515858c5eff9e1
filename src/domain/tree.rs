//! The tree of structures: the coordinator at the top, then associations,
//! their branches and partners, at most [`MAX_LEVELS`] levels deep. Who may
//! reach which structure follows from it.

use super::DomainError;

/// Levels of structures under the coordinator: an association, its
/// branches, their partners.
pub const MAX_LEVELS: usize = 3;

/// What a caller reaches: every structure (the coordinator and the
/// auditor), or one structure and the structures under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    All,
    Subtree(i64),
}

impl Reach {
    /// Whether a structure whose line up to the top is `ancestry` (itself
    /// first, then its parent, and so on) is within reach.
    pub fn covers(self, ancestry: &[i64]) -> bool {
        match self {
            Self::All => true,
            Self::Subtree(root) => ancestry.contains(&root),
        }
    }

    /// Whether the caller answers for the members of `parent`: the
    /// coordinator for all of them, an association for its own only.
    pub fn answers_for(self, parent: i64) -> bool {
        match self {
            Self::All => true,
            Self::Subtree(root) => root == parent,
        }
    }
}

/// Checks putting a structure under `parent_ancestry` (the new parent's
/// line up to the top; empty for no parent). `moved` is the structure
/// being moved and `height` its subtree's levels (1 for a structure
/// without members); a new structure is `None` with height 1.
pub fn check_placement(
    parent_ancestry: &[i64],
    moved: Option<i64>,
    height: usize,
) -> Result<(), DomainError> {
    if let Some(id) = moved
        && parent_ancestry.contains(&id)
    {
        return Err(DomainError::validation(
            "parent_id",
            "a structure cannot be put under itself or one of its members",
        ));
    }
    if parent_ancestry.len() + height > MAX_LEVELS {
        return Err(DomainError::validation(
            "parent_id",
            format!("the tree is at most {MAX_LEVELS} levels deep under the coordinator"),
        ));
    }
    Ok(())
}

/// The top of a structure's line: the association it belongs to (itself,
/// for a structure under the coordinator). `parent_of` answers each
/// structure's parent.
pub fn top_of(id: i64, parent_of: impl Fn(i64) -> Option<i64>) -> i64 {
    let mut top = id;
    for _ in 0..MAX_LEVELS {
        match parent_of(top) {
            Some(p) if p != id => top = p,
            _ => break,
        }
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_levels_fit_and_a_fourth_does_not() {
        assert!(check_placement(&[], None, 1).is_ok());
        assert!(check_placement(&[2, 1], None, 1).is_ok());
        assert!(check_placement(&[3, 2, 1], None, 1).is_err());
        // A branch with partners (height 2) fits under an association only.
        assert!(check_placement(&[1], Some(5), 2).is_ok());
        assert!(check_placement(&[2, 1], Some(5), 2).is_err());
    }

    #[test]
    fn the_top_is_the_association_under_the_coordinator() {
        let parents = |id| match id {
            3 => Some(2),
            2 => Some(1),
            _ => None,
        };
        assert_eq!(top_of(3, parents), 1);
        assert_eq!(top_of(1, parents), 1);
        assert_eq!(top_of(9, parents), 9);
    }

    #[test]
    fn a_structure_never_goes_under_itself_or_its_members() {
        assert!(check_placement(&[5], Some(5), 1).is_err());
        assert!(check_placement(&[7, 5], Some(5), 1).is_err());
        assert!(check_placement(&[7], Some(5), 1).is_ok());
    }

    #[test]
    fn reach_is_the_subtree_and_answering_is_for_direct_members() {
        assert!(Reach::All.covers(&[9]));
        assert!(Reach::Subtree(1).covers(&[3, 2, 1]));
        assert!(!Reach::Subtree(2).covers(&[4, 1]));
        assert!(Reach::Subtree(2).answers_for(2));
        assert!(!Reach::Subtree(1).answers_for(2));
        assert!(Reach::All.answers_for(2));
    }
}

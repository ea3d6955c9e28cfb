"""HTTP building blocks shared by every Hearth service: problems, auth, paging, health."""

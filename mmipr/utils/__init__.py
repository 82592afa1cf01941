"""Small shared helpers with no MMPose import: argument validation
(:mod:`.validation`) and files written atomically (:mod:`.io`)."""

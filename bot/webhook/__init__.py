"""What every chat webhook shares: a bounded body, the replay guard, the first-delivery claim, and the rule that
answers within the platform's deadline or pushes the replies through the outbox."""

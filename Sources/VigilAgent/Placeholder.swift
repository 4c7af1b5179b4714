public enum VigilAgentPlaceholder {}

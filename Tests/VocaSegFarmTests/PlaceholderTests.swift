import Testing
@testable import VocaSegFarm
